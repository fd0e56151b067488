// SPDX-License-Identifier: GPL-2.0
/* Deliberately buggy: writes through a NULL pointer at load time. */
#include <linux/module.h>

struct item {
	int key;
	int value;
};

static noinline void item_set(struct item *it, int v)
{
	it->value = v;		/* BUG: it is NULL */
}

static int __init buggy_null_init(void)
{
	struct item *it = NULL;

	OPTIMIZER_HIDE_VAR(it);
	item_set(it, 42);
	return 0;
}

static void __exit buggy_null_exit(void)
{
}

module_init(buggy_null_init);
module_exit(buggy_null_exit);
MODULE_DESCRIPTION("rko example: NULL pointer dereference");
MODULE_LICENSE("GPL");
