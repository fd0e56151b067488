// SPDX-License-Identifier: GPL-2.0
/* A module whose init never returns in any reasonable time: rko test must
 * stop the guest after --timeout, keep its console and name the step. */
#include <linux/delay.h>
#include <linux/module.h>

static int __init hang_init(void)
{
	pr_info("hang: sleeping for ten minutes\n");
	msleep(600 * 1000);
	return 0;
}
module_init(hang_init);
MODULE_DESCRIPTION("rko e2e: a module that hangs in init");
MODULE_LICENSE("GPL");
