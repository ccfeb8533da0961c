#!/bin/sh
# The default example. Until the lesson programs exist: a small tensor program.
set -e
BUILD=${1:-build}
exec "$BUILD/examples/tensor_tour"
