#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Runs in the guest after the module is loaded: any executable in tests/
# is a test, and exit status 0 means it passed.
set -e
test -d /sys/module/hello_c || { echo "hello_c is not loaded"; exit 1; }
echo "hello_c is loaded"
