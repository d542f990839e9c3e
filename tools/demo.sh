#!/usr/bin/env bash
# `make demo`: the whole pipeline on a small scale, ending with a summary table.
# Simulates jump-rope users, trains the quick configuration, evaluates float, int8 and
# the peak-detection baseline on held-out users, renders the firmware for the emulated
# Cortex-M4F and runs the hardware-in-the-loop checks against it.
set -euo pipefail
cd "$(dirname "$0")/.."
rc=.venv/bin/repcount
out=demo-out
rm -rf "$out"
mkdir -p "$out"
start=$(date +%s)

echo "== 1/5 simulate: 12 jump-rope users on the wrist (10 to train, 2 held out)"
$rc simulate --activity jump-rope --mount wrist --users 10 --minutes 3 --seed 1 --out "$out/train"
$rc simulate --activity jump-rope --mount wrist --users 2 --first-user 90 --minutes 3 --seed 2 \
    --out "$out/heldout" --plot

echo "== 2/5 train (quick configuration)"
$rc train --task jump-rope --data "$out/train" --out "$out/model" --quick --seed 1

echo "== 3/5 evaluate on the held-out users: float, int8 (tflite_micro runtime), baseline"
$rc evaluate --model "$out/model" --data "$out/heldout" --baseline peaks --plot "$out/plots" \
    | tee "$out/evaluate.txt"

echo "== 4/5 firmware for the emulated Cortex-M4F (native engine)"
$rc firmware --model "$out/model" --board qemu-mps2-an386 --engine native --out "$out/fw-qemu"

echo "== 5/5 hardware-in-the-loop on the emulator"
$rc hil --firmware "$out/fw-qemu" --model "$out/model" --data "$out/heldout" --report "$out/hil"

echo
echo "demo finished in $(( $(date +%s) - start )) s; outputs in $out/ (plots, firmware, HIL report)"
