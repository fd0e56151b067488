// SPDX-License-Identifier: GPL-2.0
/*
 * Deliberately buggy: takes two mutexes in both orders (A then B, later B
 * then A). It never deadlocks on one CPU, but lockdep (PROVE_LOCKING)
 * reports the possible circular dependency.
 */
#include <linux/module.h>
#include <linux/mutex.h>

static DEFINE_MUTEX(lock_a);
static DEFINE_MUTEX(lock_b);

static noinline void take_ab(void)
{
	mutex_lock(&lock_a);
	mutex_lock(&lock_b);
	mutex_unlock(&lock_b);
	mutex_unlock(&lock_a);
}

static noinline void take_ba(void)
{
	mutex_lock(&lock_b);
	mutex_lock(&lock_a);	/* BUG: inverts the order of take_ab */
	mutex_unlock(&lock_a);
	mutex_unlock(&lock_b);
}

static int __init buggy_lock_order_init(void)
{
	take_ab();
	take_ba();
	return 0;
}

static void __exit buggy_lock_order_exit(void)
{
}

module_init(buggy_lock_order_init);
module_exit(buggy_lock_order_exit);
MODULE_DESCRIPTION("rko example: lock-order inversion under lockdep");
MODULE_LICENSE("GPL");
