// SPDX-License-Identifier: GPL-2.0
/*
 * multiversion_c: the C twin of multiversion. C has had misc devices on
 * every kernel; what differs between versions, C code tells with
 * LINUX_VERSION_CODE and KERNEL_VERSION() (rko's cfgs are for Rust code,
 * which has no such macros).
 */
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/version.h>

#define SERIES __stringify(LINUX_VERSION_MAJOR) "." __stringify(LINUX_VERSION_PATCHLEVEL)
#define MODERN (LINUX_VERSION_CODE >= KERNEL_VERSION(6, 13, 0))

static const struct file_operations multiversion_c_fops = {
	.owner = THIS_MODULE,
};

static struct miscdevice multiversion_c_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "rko_multiversion_c",
	.fops = &multiversion_c_fops,
};

static int __init multiversion_c_init(void)
{
	int err = misc_register(&multiversion_c_dev);

	if (err)
		return err;
	pr_info("multiversion_c: built for " SERIES ", misc device rko_multiversion_c (modern: %s)\n",
		MODERN ? "true" : "false");
	return 0;
}

static void __exit multiversion_c_exit(void)
{
	misc_deregister(&multiversion_c_dev);
}

module_init(multiversion_c_init);
module_exit(multiversion_c_exit);
MODULE_AUTHOR("rko");
MODULE_DESCRIPTION("The C twin of multiversion");
MODULE_LICENSE("GPL");
