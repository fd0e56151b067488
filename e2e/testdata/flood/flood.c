// SPDX-License-Identifier: GPL-2.0
/* A module that floods the console: a kernel thread prints without end.
 * rko test must stop the guest at its console bound, keep what came
 * before and say why (e2e TestFaultConsoleFlood). */
#include <linux/kthread.h>
#include <linux/module.h>
#include <linux/sched.h>

static struct task_struct *flooder;

static int flood(void *unused)
{
	unsigned long n = 0;

	while (!kthread_should_stop()) {
		pr_info("flood: line %lu of a module that never stops printing\n", n++);
		cond_resched();
	}
	return 0;
}

static int __init flood_init(void)
{
	flooder = kthread_run(flood, NULL, "flood");
	return PTR_ERR_OR_ZERO(flooder);
}

static void __exit flood_exit(void)
{
	kthread_stop(flooder);
}
module_init(flood_init);
module_exit(flood_exit);
MODULE_DESCRIPTION("rko e2e: a module that floods the console");
MODULE_LICENSE("GPL");
