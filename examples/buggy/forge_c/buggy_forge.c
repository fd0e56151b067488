// SPDX-License-Identifier: GPL-2.0
/*
 * Deliberately hostile: forges rko's guest protocol. When it is unloaded
 * (the "rmmod buggy_forge" step, after its test ran and failed) it prints
 * an "end" frame saying that the test passed, as the guest init would.
 * The frame lacks the boot's MAC, so rko must keep the test failed and
 * report the forged frame (docs/guest-protocol.md, e2e TestForgedFrames).
 */
#include <linux/module.h>

#define FORGED_STEP "test forge_c/smoke.sh"

static int __init buggy_forge_init(void)
{
	pr_info("buggy_forge: loaded\n");
	return 0;
}

static void __exit buggy_forge_exit(void)
{
	/* BUG: a module printing the test harness's own protocol. */
	pr_info("@@rko {\"ev\":\"end\",\"step\":\"" FORGED_STEP "\",\"rc\":0,\"ms\":1}\n");
}

module_init(buggy_forge_init);
module_exit(buggy_forge_exit);
MODULE_DESCRIPTION("rko example: a module that prints a forged protocol frame");
MODULE_LICENSE("GPL");
