#!/bin/bash
# probe.py on this CPU and under QEMU's user-mode emulator posing as other x86 CPUs (Intel and AMD
# models), with each MKL_CBWR setting: which settings give the same matrix products everywhere.
# Needs qemu-user (Debian: apt-get install qemu-user). Writes probe_results.jsonl beside this script;
# refuses to overwrite it.
#   PYTHON=.venv/bin/python bash experiments/results/cpu_paths/emulated.sh
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd); OUT="$HERE/probe_results.jsonl"
PYTHON=${PYTHON:-python}
[ -e "$OUT" ] && { echo "error: $OUT exists; move it away to measure again" >&2; exit 1; }
command -v qemu-x86_64 > /dev/null || { echo "error: qemu-x86_64 not found; apt-get install qemu-user" >&2; exit 1; }
TMP=$(mktemp); trap 'rm -f "$TMP"' EXIT
for cpu in native EPYC Haswell Cascadelake-Server; do
  for cbwr in unset AUTO COMPATIBLE AVX2; do
    run=("$PYTHON" "$HERE/probe.py"); [ "$cpu" = native ] || run=(qemu-x86_64 -cpu "$cpu" "${run[@]}")
    if [ "$cbwr" = unset ]; then line=$(env -u MKL_CBWR "${run[@]}" 2>/dev/null)
    else line=$(MKL_CBWR=$cbwr "${run[@]}" 2>/dev/null); fi
    "$PYTHON" -c 'import json, sys; print(json.dumps({"cpu": sys.argv[1], **json.loads(sys.argv[2])}))' "$cpu" "$line" | tee -a "$TMP"
  done
done
mv "$TMP" "$OUT"; trap - EXIT
