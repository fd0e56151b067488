#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Runs in the guest with multiversion_c loaded: built for the running
# kernel's series, its misc device registered on every version.
set -e
series=$(uname -r | cut -d. -f1,2)
line=$(dmesg | grep 'multiversion_c: built for' | tail -n 1)
echo "kernel $series: $line"
case "$line" in
*"built for $series,"*) ;;
*) echo "multiversion_c was not built for $series"; exit 1 ;;
esac
test -e /sys/class/misc/rko_multiversion_c || { echo "no misc device"; exit 1; }
major=${series%%.*}
minor=${series#*.}
if [ "$major" -gt 6 ] || { [ "$major" -eq 6 ] && [ "$minor" -ge 13 ]; }; then want=true; else want=false; fi
case "$line" in *"modern: $want"*) ;; *) echo "modern is not $want on $series"; exit 1 ;; esac
echo "multiversion_c fits kernel $series"
