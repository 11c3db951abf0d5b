#!/bin/sh
# Runs once in each instance's work directory.  The local provider sets
# GR_ADDRESS (fleet/group/slot), GR_LABEL and, on GPU slots,
# CUDA_VISIBLE_DEVICES.
echo "$GREETING from $GR_ADDRESS ($GR_LABEL), GPUs: ${CUDA_VISIBLE_DEVICES:-none}"
while :; do
	date -u +%Y-%m-%dT%H:%M:%SZ > heartbeat
	sleep 30
done
