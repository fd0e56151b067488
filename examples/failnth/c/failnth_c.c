// SPDX-License-Identifier: GPL-2.0
/*
 * failnth_c: a module that forgets a cleanup on one error path, for
 * rko test --fail-nth (docs/fail-nth.md).
 *
 * Its init allocates a table, then a buffer; when the buffer's allocation
 * fails, it returns -ENOMEM without freeing the table. Ordinary loads never
 * take that path. rko test --fail-nth --profile debug fails the load's second
 * fault-injectable call of the module's own, and kmemleak finds the table.
 * Its Rust twin (../rust) cannot forget: the table is freed when it goes out
 * of scope.
 */
#include <linux/module.h>
#include <linux/slab.h>

static u32 *table;
static char *buffer;

static int __init failnth_c_init(void)
{
	int i;

	table = kcalloc(16, sizeof(*table), GFP_KERNEL);
	if (!table)
		return -ENOMEM;
	for (i = 0; i < 16; i++)
		table[i] = i * i;
	buffer = kmalloc(256, GFP_KERNEL);
	if (!buffer)
		return -ENOMEM; /* BUG: table is never freed on this path */
	snprintf(buffer, 256, "sum of squares below 16: %u", 1240);
	pr_info("failnth_c: %s\n", buffer);
	return 0;
}

static void __exit failnth_c_exit(void)
{
	kfree(buffer);
	kfree(table);
}

module_init(failnth_c_init);
module_exit(failnth_c_exit);
MODULE_DESCRIPTION("failnth_c: a forgotten cleanup on an error path");
MODULE_LICENSE("GPL");
