// SPDX-License-Identifier: GPL-2.0
/* Deliberately buggy: trips a WARN_ON at load time. */
#include <linux/module.h>

static int limit = 10;
module_param(limit, int, 0444);

static noinline int check_limit(int n)
{
	return WARN_ON(n > limit);	/* BUG: 11 > 10 */
}

static int __init buggy_warn_init(void)
{
	check_limit(11);
	return 0;
}

static void __exit buggy_warn_exit(void)
{
}

module_init(buggy_warn_init);
module_exit(buggy_warn_exit);
MODULE_DESCRIPTION("rko example: WARN_ON");
MODULE_LICENSE("GPL");
