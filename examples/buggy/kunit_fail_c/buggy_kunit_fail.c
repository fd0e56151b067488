// SPDX-License-Identifier: GPL-2.0
/*
 * buggy_kunit_fail: a module whose KUnit suite has one passing and one
 * failing case (an off-by-one in clamp_index), for recording a KUnit
 * failure on every architecture. Loading it succeeds; the suite fails.
 */
#include <linux/module.h>
#include <kunit/test.h>

/* Clamps i into [0, n): wrong, it allows n. */
static int clamp_index(int i, int n)
{
	if (i < 0)
		return 0;
	if (i > n)
		return n;
	return i;
}

static void clamp_inside(struct kunit *test)
{
	KUNIT_EXPECT_EQ(test, clamp_index(2, 4), 2);
}

static void clamp_past_end(struct kunit *test)
{
	KUNIT_EXPECT_EQ(test, clamp_index(4, 4), 3);
}

static struct kunit_case clamp_cases[] = {
	KUNIT_CASE(clamp_inside),
	KUNIT_CASE(clamp_past_end),
	{}
};

static struct kunit_suite clamp_suite = {
	.name = "buggy_kunit_fail",
	.test_cases = clamp_cases,
};
kunit_test_suite(clamp_suite);

MODULE_AUTHOR("rko");
MODULE_DESCRIPTION("buggy_kunit_fail: a KUnit suite with a failing case");
MODULE_LICENSE("GPL");
