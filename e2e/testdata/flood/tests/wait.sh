#!/bin/sh
# Gives the flooding thread time to print.
sleep 60
