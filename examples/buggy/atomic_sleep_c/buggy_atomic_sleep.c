// SPDX-License-Identifier: GPL-2.0
/*
 * Deliberately buggy: takes a mutex (which may sleep) while holding a
 * spinlock. With DEBUG_ATOMIC_SLEEP, mutex_lock's might_sleep() reports
 * "BUG: sleeping function called from invalid context".
 */
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>

static DEFINE_SPINLOCK(buggy_lock);
static DEFINE_MUTEX(buggy_mutex);
static int counter;

static noinline void slow_update(void)
{
	mutex_lock(&buggy_mutex);	/* BUG: may sleep in atomic context */
	counter++;
	mutex_unlock(&buggy_mutex);
}

static int __init buggy_atomic_sleep_init(void)
{
	spin_lock(&buggy_lock);
	slow_update();
	spin_unlock(&buggy_lock);
	pr_info("buggy_atomic_sleep: counter %d\n", counter);
	return 0;
}

static void __exit buggy_atomic_sleep_exit(void)
{
}

module_init(buggy_atomic_sleep_init);
module_exit(buggy_atomic_sleep_exit);
MODULE_DESCRIPTION("rko example: sleeping function called under a spinlock");
MODULE_LICENSE("GPL");
