// SPDX-License-Identifier: GPL-2.0
/*
 * rko bench twin (C): a small key-value store behind a misc character
 * device. Each open file has its own store of KV_SLOTS values of up to
 * KV_VALUE_MAX bytes. ioctl(KV_SELECT, &key) chooses the slot, write()
 * replaces its value, read() returns it. The Rust twin is
 * ../kv_rust/rko_kv_rust.rs; both must behave identically.
 *
 * The module makes two devices on the same code: rko_kv_c, written the way
 * C drivers usually are (.read/.write with copy_{to,from}_user), and
 * rko_kvi_c, with .read_iter/.write_iter (a kiocb and an iov_iter, through
 * new_sync_read/new_sync_write), the only path the Rust MiscDevice trait
 * offers. The "kvi" workload compares rko_kvi_c with the Rust twin, which
 * separates the cost of that VFS path from the cost of the Rust code.
 */
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/uio.h>

#define KV_SLOTS 64
#define KV_VALUE_MAX 64
#define KV_SELECT _IOW('k', 1, __u32)

struct kv_slot {
	size_t len;
	u8 val[KV_VALUE_MAX];
};

struct kv_store {
	struct mutex lock;
	u32 sel;
	struct kv_slot slots[KV_SLOTS];
};

static int kv_open(struct inode *inode, struct file *file)
{
	struct kv_store *kv = kzalloc(sizeof(*kv), GFP_KERNEL);

	if (!kv)
		return -ENOMEM;
	mutex_init(&kv->lock);
	file->private_data = kv;
	return 0;
}

static int kv_release(struct inode *inode, struct file *file)
{
	kfree(file->private_data);
	return 0;
}

static ssize_t kv_read(struct file *file, char __user *buf, size_t count,
		       loff_t *ppos)
{
	struct kv_store *kv = file->private_data;
	struct kv_slot *slot;
	size_t n;

	mutex_lock(&kv->lock);
	slot = &kv->slots[kv->sel];
	n = min(count, slot->len);
	if (copy_to_user(buf, slot->val, n)) {
		mutex_unlock(&kv->lock);
		return -EFAULT;
	}
	mutex_unlock(&kv->lock);
	return n;
}

static ssize_t kv_write(struct file *file, const char __user *buf,
			size_t count, loff_t *ppos)
{
	struct kv_store *kv = file->private_data;
	struct kv_slot *slot;

	if (count > KV_VALUE_MAX)
		return -EINVAL;
	mutex_lock(&kv->lock);
	slot = &kv->slots[kv->sel];
	if (copy_from_user(slot->val, buf, count)) {
		mutex_unlock(&kv->lock);
		return -EFAULT;
	}
	slot->len = count;
	mutex_unlock(&kv->lock);
	return count;
}

static ssize_t kv_read_iter(struct kiocb *iocb, struct iov_iter *to)
{
	struct kv_store *kv = iocb->ki_filp->private_data;
	struct kv_slot *slot;
	size_t n;

	mutex_lock(&kv->lock);
	slot = &kv->slots[kv->sel];
	n = min(iov_iter_count(to), slot->len);
	if (copy_to_iter(slot->val, n, to) != n) {
		mutex_unlock(&kv->lock);
		return -EFAULT;
	}
	mutex_unlock(&kv->lock);
	return n;
}

static ssize_t kv_write_iter(struct kiocb *iocb, struct iov_iter *from)
{
	struct kv_store *kv = iocb->ki_filp->private_data;
	struct kv_slot *slot;
	size_t count = iov_iter_count(from);

	if (count > KV_VALUE_MAX)
		return -EINVAL;
	mutex_lock(&kv->lock);
	slot = &kv->slots[kv->sel];
	if (copy_from_iter(slot->val, count, from) != count) {
		mutex_unlock(&kv->lock);
		return -EFAULT;
	}
	slot->len = count;
	mutex_unlock(&kv->lock);
	return count;
}

static long kv_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct kv_store *kv = file->private_data;
	u32 key;

	switch (cmd) {
	case KV_SELECT:
		if (get_user(key, (u32 __user *)arg))
			return -EFAULT;
		if (key >= KV_SLOTS)
			return -EINVAL;
		mutex_lock(&kv->lock);
		kv->sel = key;
		mutex_unlock(&kv->lock);
		return 0;
	default:
		return -ENOTTY;
	}
}

static const struct file_operations kv_fops = {
	.owner = THIS_MODULE,
	.open = kv_open,
	.release = kv_release,
	.read = kv_read,
	.write = kv_write,
	.unlocked_ioctl = kv_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
};

static const struct file_operations kvi_fops = {
	.owner = THIS_MODULE,
	.open = kv_open,
	.release = kv_release,
	.read_iter = kv_read_iter,
	.write_iter = kv_write_iter,
	.unlocked_ioctl = kv_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
};

static struct miscdevice kv_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "rko_kv_c",
	.fops = &kv_fops,
};

static struct miscdevice kvi_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "rko_kvi_c",
	.fops = &kvi_fops,
};

static int __init kv_init(void)
{
	int err = misc_register(&kv_misc);

	if (err)
		return err;
	err = misc_register(&kvi_misc);
	if (err)
		misc_deregister(&kv_misc);
	return err;
}
module_init(kv_init);

static void __exit kv_exit(void)
{
	misc_deregister(&kvi_misc);
	misc_deregister(&kv_misc);
}
module_exit(kv_exit);

MODULE_DESCRIPTION("rko bench: key-value misc device (C twin)");
MODULE_AUTHOR("rko");
MODULE_LICENSE("GPL");
