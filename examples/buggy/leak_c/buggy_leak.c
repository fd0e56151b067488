// SPDX-License-Identifier: GPL-2.0
/* Deliberately buggy: allocates a buffer and loses the pointer (kmemleak). */
#include <linux/module.h>
#include <linux/slab.h>

#define NR_BUFFERS 4

static noinline void *make_buffer(void)
{
	return kmalloc(128, GFP_KERNEL);
}

static int __init buggy_leak_init(void)
{
	int i;

	/*
	 * BUG: the buffers are never freed. Several of them, because stale
	 * copies of the last pointers can survive in stack memory that
	 * kmemleak still scans; the earlier ones are surely unreferenced.
	 */
	for (i = 0; i < NR_BUFFERS; i++) {
		void *buf = make_buffer();

		OPTIMIZER_HIDE_VAR(buf);
		if (!buf)
			return -ENOMEM;
	}
	pr_info("buggy_leak: allocated %d buffers\n", NR_BUFFERS);
	return 0;
}

static void __exit buggy_leak_exit(void)
{
}

module_init(buggy_leak_init);
module_exit(buggy_leak_exit);
MODULE_DESCRIPTION("rko example: memory leak found by kmemleak");
MODULE_LICENSE("GPL");
