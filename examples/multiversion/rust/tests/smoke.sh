#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Runs in the guest with multiversion loaded: the module must say it was
# built for the running kernel's series, and have registered its misc
# device exactly when the kernel crate has kernel::miscdevice (6.13 and
# later).
set -e
series=$(uname -r | cut -d. -f1,2)
line=$(dmesg | grep 'multiversion: built for' | tail -n 1)
echo "kernel $series: $line"
case "$line" in
*"built for $series,"*) ;;
*) echo "multiversion was not built for $series"; exit 1 ;;
esac
major=${series%%.*}
minor=${series#*.}
if [ "$major" -gt 6 ] || { [ "$major" -eq 6 ] && [ "$minor" -ge 13 ]; }; then
  test -e /sys/class/misc/rko_multiversion || { echo "no misc device on $series"; exit 1; }
  case "$line" in *"modern: true"*) ;; *) echo "not modern on $series"; exit 1 ;; esac
else
  test ! -e /sys/class/misc/rko_multiversion || { echo "a misc device on $series"; exit 1; }
  case "$line" in *"modern: false"*) ;; *) echo "modern on $series"; exit 1 ;; esac
fi
echo "multiversion fits kernel $series"
