// SPDX-License-Identifier: GPL-2.0
/* A plain module whose test script forks a daemon and exits (e2e
 * TestFaultTestForksDaemon). */
#include <linux/module.h>

static int __init daemon_init(void)
{
	return 0;
}

static void __exit daemon_exit(void)
{
}
module_init(daemon_init);
module_exit(daemon_exit);
MODULE_DESCRIPTION("rko e2e: a module whose test leaves a daemon");
MODULE_LICENSE("GPL");
