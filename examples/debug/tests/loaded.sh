#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# points' init computed its total: (3*2+4) + (-2*3+10) = 14.
set -e
dmesg | grep -q "points: total 14" || { echo "points did not report total 14"; dmesg | grep points; exit 1; }
echo "points: total 14"
