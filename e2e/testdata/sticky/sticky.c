// SPDX-License-Identifier: GPL-2.0
/*
 * Test module for rko's e2e tests: it has an init but no exit function, so
 * the kernel refuses to unload it (delete_module fails with EBUSY), and
 * rko test must fail the run in its rmmod step.
 */
#include <linux/module.h>

static int __init sticky_init(void)
{
	pr_info("sticky: loaded; there is no module_exit, so it cannot be unloaded\n");
	return 0;
}
module_init(sticky_init);

MODULE_DESCRIPTION("rko e2e: a module that cannot be unloaded");
MODULE_LICENSE("GPL");
