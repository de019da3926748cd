#!/usr/bin/env bash
# The device check on a GPU machine, in one command (issue 12):
#
#   benchmarks/device_check.sh [device_check.py options]
#
# Runs benchmarks/device_check.py from this checkout (src/ on PYTHONPATH, no install needed)
# and keeps its full output and JSON in $DEVICE_CHECK_OUT (default results/device_check/).
# A machine without Snakemake (or another dependency) and without network can be given wheels
# in .whl/ (see README, "Device check"): they are installed to a temporary folder first.
set -euo pipefail
cd "$(dirname "$0")/.."
if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/metainv-site .whl/*.whl
  export PYTHONPATH=/tmp/metainv-site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH}
export PYTHONUNBUFFERED=1
out=${DEVICE_CHECK_OUT:-results/device_check}
mkdir -p "$out"
python3 benchmarks/device_check.py --json "$out/device_check.json" "$@" 2>&1 | tee "$out/device_check.log"
exit "${PIPESTATUS[0]}"
