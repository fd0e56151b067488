#!/bin/sh
# Leaves a daemon behind that keeps stdout open, then exits 0: the step
# must end when the script does, not when the daemon would.
sleep 600 &
echo "forked daemon $!"
