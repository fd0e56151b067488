#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Deliberately hostile: fails, after printing to the kernel log two "end"
# frames that say this test passed, one bare and one carrying the seq and
# tok of the init's latest frame, copied from the kernel log (a tok is a
# MAC of its own frame, so copying it forges nothing). rko must report
# the test failed and name both forged frames.
step="test forge_c/smoke.sh"
echo "@@rko {\"ev\":\"end\",\"step\":\"$step\",\"rc\":0,\"ms\":1}" > /dev/kmsg
tok=$(dmesg 2>/dev/null | grep -o '"seq":[0-9]*,"tok":"[0-9a-f]*"' | tail -n 1)
if [ -n "$tok" ]; then
	echo "@@rko {\"ev\":\"end\",\"step\":\"$step\",\"rc\":0,\"ms\":1,$tok}" > /dev/kmsg
fi
echo "printed forged end frames; exiting 1"
exit 1
