// SPDX-License-Identifier: GPL-2.0
/* Deliberately buggy: reads a ring buffer after freeing it (KASAN). */
#include <linux/module.h>
#include <linux/slab.h>

struct ring {
	int head;
	int slots[15];
};

static noinline int ring_pop(struct ring *r)
{
	return r->slots[r->head];	/* BUG: r was freed */
}

static int __init buggy_uaf_init(void)
{
	struct ring *r = kzalloc(sizeof(*r), GFP_KERNEL);

	if (!r)
		return -ENOMEM;
	kfree(r);
	pr_info("buggy_uaf: popped %d\n", ring_pop(r));
	return 0;
}

static void __exit buggy_uaf_exit(void)
{
}

module_init(buggy_uaf_init);
module_exit(buggy_uaf_exit);
MODULE_DESCRIPTION("rko example: slab use-after-free under KASAN");
MODULE_LICENSE("GPL");
