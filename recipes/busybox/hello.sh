#!/bin/sh
echo "$GREETING from $(uname -s), running as $(id -un) in $(pwd)"
