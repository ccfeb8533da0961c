#!/bin/sh
# The default example: long_dependency, the LSTM paper's multiplication
# problem, in a short configuration with built-in data (1000 sequences of 30
# steps instead of 100, 40 epochs instead of 200; about a minute on 2 cores):
# stacked SimpleRNN, LSTM and GRU layers learn to multiply two marked values
# far apart in a sequence. LSTM and GRU get far below the variance of the
# target; the SimpleRNN does not. The full lesson: long_dependency with no flags.
set -e
BUILD=${1:-build}
OUT=${OUT:-out/long_dependency}
# The matrices are small (batch 32, 30 units): one thread is fastest.
"$BUILD/examples/long_dependency" --limit 1000 --steps 30 --epochs 40 --seed 1 --threads 1 --out "$OUT"
echo
echo "loss curves: $OUT/loss.png (numbers in $OUT/loss.csv)"
