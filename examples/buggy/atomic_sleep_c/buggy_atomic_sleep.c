// SPDX-License-Identifier: GPL-2.0
/* Deliberately buggy: sleeps while holding a spinlock (DEBUG_ATOMIC_SLEEP). */
#include <linux/module.h>
#include <linux/delay.h>
#include <linux/spinlock.h>

static DEFINE_SPINLOCK(buggy_lock);

static noinline void slow_update(void)
{
	msleep(1);		/* BUG: sleeping in atomic context */
}

static int __init buggy_atomic_sleep_init(void)
{
	spin_lock(&buggy_lock);
	slow_update();
	spin_unlock(&buggy_lock);
	return 0;
}

static void __exit buggy_atomic_sleep_exit(void)
{
}

module_init(buggy_atomic_sleep_init);
module_exit(buggy_atomic_sleep_exit);
MODULE_DESCRIPTION("rko example: sleeping function called under a spinlock");
MODULE_LICENSE("GPL");
