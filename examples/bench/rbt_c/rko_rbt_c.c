// SPDX-License-Identifier: GPL-2.0
/*
 * rko bench twin (C): red-black tree inserts, lookups and removals, timed
 * in the kernel. ioctl(RBT_RUN, &run) inserts run.nkeys distinct keys (each
 * node allocated with kmalloc), looks every key up, then removes and frees
 * every node, and reports the elapsed nanoseconds (ktime_get_ns) and the sum
 * of the values found. The Rust twin is ../rbt_rust/rko_rbt_rust.rs.
 */
#include <linux/fs.h>
#include <linux/ktime.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/rbtree.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

/* Multiplying by an odd constant is a bijection on u32: keys are distinct. */
#define RBT_GOLDEN 2654435761u
#define RBT_MAX_KEYS (1u << 20)

struct rbt_run {
	__u32 nkeys;
	__u32 seed;
	__u64 ns;
	__u64 sum;
};

#define RBT_RUN _IOWR('k', 2, struct rbt_run)

struct rbt_node {
	struct rb_node rb;
	u32 key;
	u64 val;
};

static inline u32 rbt_key(u32 i, u32 seed)
{
	return (i + seed) * RBT_GOLDEN;
}

static struct rbt_node *rbt_find(struct rb_root *root, u32 key)
{
	struct rb_node *n = root->rb_node;

	while (n) {
		struct rbt_node *e = rb_entry(n, struct rbt_node, rb);

		if (key < e->key)
			n = n->rb_left;
		else if (key > e->key)
			n = n->rb_right;
		else
			return e;
	}
	return NULL;
}

static int rbt_insert(struct rb_root *root, u32 key, u64 val)
{
	struct rb_node **link = &root->rb_node, *parent = NULL;
	struct rbt_node *node;

	while (*link) {
		struct rbt_node *e = rb_entry(*link, struct rbt_node, rb);

		parent = *link;
		if (key < e->key) {
			link = &(*link)->rb_left;
		} else if (key > e->key) {
			link = &(*link)->rb_right;
		} else {
			e->val = val;
			return 0;
		}
	}
	node = kmalloc(sizeof(*node), GFP_KERNEL);
	if (!node)
		return -ENOMEM;
	node->key = key;
	node->val = val;
	rb_link_node(&node->rb, parent, link);
	rb_insert_color(&node->rb, root);
	return 0;
}

static void rbt_destroy(struct rb_root *root)
{
	struct rbt_node *e, *tmp;

	rbtree_postorder_for_each_entry_safe(e, tmp, root, rb)
		kfree(e);
	*root = RB_ROOT;
}

static int rbt_run(struct rbt_run *run)
{
	struct rb_root root = RB_ROOT;
	u64 start, sum = 0;
	u32 i;
	int err;

	start = ktime_get_ns();
	for (i = 0; i < run->nkeys; i++) {
		u32 key = rbt_key(i, run->seed);

		err = rbt_insert(&root, key, (u64)key * 3);
		if (err) {
			rbt_destroy(&root);
			return err;
		}
	}
	for (i = 0; i < run->nkeys; i++) {
		struct rbt_node *e = rbt_find(&root, rbt_key(i, run->seed));

		if (e)
			sum += e->val;
	}
	for (i = 0; i < run->nkeys; i++) {
		struct rbt_node *e = rbt_find(&root, rbt_key(i, run->seed));

		if (e) {
			rb_erase(&e->rb, &root);
			kfree(e);
		}
	}
	run->ns = ktime_get_ns() - start;
	run->sum = sum;
	return 0;
}

static long rbt_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct rbt_run run;
	int err;

	if (cmd != RBT_RUN)
		return -ENOTTY;
	if (copy_from_user(&run, (void __user *)arg, sizeof(run)))
		return -EFAULT;
	if (run.nkeys > RBT_MAX_KEYS)
		return -EINVAL;
	err = rbt_run(&run);
	if (err)
		return err;
	if (copy_to_user((void __user *)arg, &run, sizeof(run)))
		return -EFAULT;
	return 0;
}

static const struct file_operations rbt_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = rbt_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
};

static struct miscdevice rbt_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "rko_rbt_c",
	.fops = &rbt_fops,
};

module_misc_device(rbt_misc);

MODULE_DESCRIPTION("rko bench: rbtree inserts, lookups and removals (C twin)");
MODULE_AUTHOR("rko");
MODULE_LICENSE("GPL");
