// SPDX-License-Identifier: GPL-2.0
/*
 * failnth_crash: a module whose init does not check its second allocation
 * and writes through the NULL pointer when that allocation fails. Ordinary
 * loads never fail it; rko test --fail-nth fails it at call 2 and must
 * report a crash at N = 2 with this file's line, stop the sweep and leave
 * no guest behind (e2e TestFailNthTwins).
 */
#include <linux/module.h>
#include <linux/slab.h>

struct thing {
	int *data;
};

static struct thing *thing;

static int __init failnth_crash_init(void)
{
	thing = kzalloc(sizeof(*thing), GFP_KERNEL);
	if (!thing)
		return -ENOMEM;
	thing->data = kmalloc_array(16, sizeof(int), GFP_KERNEL);
	thing->data[0] = 42; /* BUG: a failed allocation is written through */
	pr_info("failnth_crash: loaded\n");
	return 0;
}

static void __exit failnth_crash_exit(void)
{
	kfree(thing->data);
	kfree(thing);
}

module_init(failnth_crash_init);
module_exit(failnth_crash_exit);
MODULE_DESCRIPTION("failnth_crash: a NULL write when an allocation fails");
MODULE_LICENSE("GPL");
