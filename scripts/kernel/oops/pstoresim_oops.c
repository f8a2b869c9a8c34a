// SPDX-License-Identifier: GPL-2.0
/*
 * pstoresim_oops: a stand-in for LKDTM, which Debian's 6.1 kernel does not
 * build. Writing to /proc/pstoresim_oops makes the writing task oops on a NULL
 * pointer dereference (panic_on_oops=0: the task dies, the kernel goes on and
 * kmsg_dump(KMSG_DUMP_OOPS) hands the log to pstore). Writing "bug" triggers
 * BUG() instead, "warn" a WARN() (not an oops: no dump).
 */
#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/uaccess.h>
#include <linux/string.h>

static ssize_t pstoresim_oops_write(struct file *file, const char __user *ubuf,
				    size_t len, loff_t *ppos)
{
	char buf[8] = { 0 };
	size_t n = len < sizeof(buf) - 1 ? len : sizeof(buf) - 1;

	if (copy_from_user(buf, ubuf, n))
		return -EFAULT;
	if (!strncmp(buf, "bug", 3)) {
		pr_emerg("pstoresim_oops: BUG() requested\n");
		BUG();
	} else if (!strncmp(buf, "warn", 4)) {
		WARN(1, "pstoresim_oops: WARN requested\n");
	} else {
		volatile int *p = NULL;

		pr_emerg("pstoresim_oops: NULL pointer dereference requested\n");
		*p = 0x2a;
	}
	return len;
}

static const struct proc_ops pstoresim_oops_ops = {
	.proc_write = pstoresim_oops_write,
};

static int __init pstoresim_oops_init(void)
{
	if (!proc_create("pstoresim_oops", 0200, NULL, &pstoresim_oops_ops))
		return -ENOMEM;
	return 0;
}

static void __exit pstoresim_oops_exit(void)
{
	remove_proc_entry("pstoresim_oops", NULL);
}

module_init(pstoresim_oops_init);
module_exit(pstoresim_oops_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("pstore-sim test helper: oops on demand");
