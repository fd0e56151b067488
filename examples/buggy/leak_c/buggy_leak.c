// SPDX-License-Identifier: GPL-2.0
/* Deliberately buggy: allocates a buffer and loses the pointer (kmemleak). */
#include <linux/module.h>
#include <linux/slab.h>

static noinline void *make_buffer(void)
{
	return kmalloc(128, GFP_KERNEL);
}

static int __init buggy_leak_init(void)
{
	void *buf = make_buffer();

	if (!buf)
		return -ENOMEM;
	pr_info("buggy_leak: allocated a buffer\n");
	return 0;		/* BUG: buf is never freed */
}

static void __exit buggy_leak_exit(void)
{
}

module_init(buggy_leak_init);
module_exit(buggy_leak_exit);
MODULE_DESCRIPTION("rko example: memory leak found by kmemleak");
MODULE_LICENSE("GPL");
