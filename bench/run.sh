#!/bin/sh
# make bench: the peers' comparison (bench/run.py says what it runs and the settings it reads).
exec python3 "$(dirname "$0")/run.py" "$@"
