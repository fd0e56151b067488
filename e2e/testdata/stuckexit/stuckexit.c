// SPDX-License-Identifier: GPL-2.0
/* A module whose exit never returns: rmmod blocks in the kernel for good.
 * rko test must stop the guest after --timeout and name the rmmod step
 * (e2e TestFaultRmmodBlocks). */
#include <linux/delay.h>
#include <linux/module.h>

static int __init stuckexit_init(void)
{
	return 0;
}

static void __exit stuckexit_exit(void)
{
	pr_info("stuckexit: blocking in exit for good\n");
	for (;;)
		msleep(1000);
}
module_init(stuckexit_init);
module_exit(stuckexit_exit);
MODULE_DESCRIPTION("rko e2e: a module whose exit blocks forever");
MODULE_LICENSE("GPL");
