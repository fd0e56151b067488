// SPDX-License-Identifier: GPL-2.0
/*
 * hello_c: a C kernel module, the twin of the Rust template.
 *
 * It keeps a few numbers, reports their sum when it is loaded and unloaded,
 * and carries its KUnit tests with it: they run when the module is loaded
 * into a kernel with CONFIG_KUNIT.
 */
#include <linux/module.h>
#include <linux/overflow.h>
#include <linux/slab.h>
#include <kunit/test.h>

static int *numbers;
static const int initial[] = { 72, 108, 200 };

/* Adds up n numbers; false if the sum does not fit in an int. */
static bool checked_sum(const int *v, size_t n, int *sum)
{
	size_t i;

	*sum = 0;
	for (i = 0; i < n; i++)
		if (check_add_overflow(*sum, v[i], sum))
			return false;
	return true;
}

static int __init hello_c_init(void)
{
	int sum;

	numbers = kmemdup(initial, sizeof(initial), GFP_KERNEL);
	if (!numbers)
		return -ENOMEM;
	if (!checked_sum(numbers, ARRAY_SIZE(initial), &sum)) {
		kfree(numbers);
		return -ERANGE;
	}
	pr_info("hello_c: loaded, sum %d\n", sum);
	return 0;
}

static void __exit hello_c_exit(void)
{
	pr_info("hello_c: unloaded, numbers [%d, %d, %d]\n", numbers[0], numbers[1], numbers[2]);
	kfree(numbers);
}

static void sum_of_numbers(struct kunit *test)
{
	int sum;

	KUNIT_EXPECT_TRUE(test, checked_sum(initial, ARRAY_SIZE(initial), &sum));
	KUNIT_EXPECT_EQ(test, sum, 380);
}

static void sum_overflows(struct kunit *test)
{
	static const int big[] = { INT_MAX, 1 };
	int sum;

	KUNIT_EXPECT_FALSE(test, checked_sum(big, ARRAY_SIZE(big), &sum));
}

static struct kunit_case hello_c_cases[] = {
	KUNIT_CASE(sum_of_numbers),
	KUNIT_CASE(sum_overflows),
	{}
};

static struct kunit_suite hello_c_suite = {
	.name = "hello_c",
	.test_cases = hello_c_cases,
};
kunit_test_suite(hello_c_suite);

module_init(hello_c_init);
module_exit(hello_c_exit);
MODULE_AUTHOR("rko");
MODULE_DESCRIPTION("hello_c: a C kernel module");
MODULE_LICENSE("GPL");
