#!/bin/bash
# The first training record of one preference run (Walker2d, the reference 700-label setting: 16,384
# steps of the initial policy after the pretraining labels) under each pin of a library's
# floating-point code path. Appends one JSON line per run to results.jsonl beside this script.
#   PYTHON=.venv/bin/python bash experiments/results/cpu_paths/check.sh [SEEDS] [VARIANT,...]
# SEEDS: e.g. 1,0 (default 1). VARIANT: names from the list below (default: all). A variant's pins are
# joined by ";" ("recipe": the README's pins for CPUs with and without AVX-512, all three at once).
# EMULATE=Haswell (any `qemu-x86_64 -cpu help` model; needs apt-get install qemu-user) runs each under
# QEMU's user-mode emulator posing as that CPU: ~1 h a run instead of ~40 s.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd); OUT="$HERE/results.jsonl"
PYTHON=${PYTHON:-python}; SEEDS=${1:-1}; ONLY=${2:-}
export MUJOCO_GL=${MUJOCO_GL:-egl}
WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
VARIANTS=("default|" "MKL_CBWR=AUTO|MKL_CBWR=AUTO" "MKL_CBWR=COMPATIBLE|MKL_CBWR=COMPATIBLE" "MKL_CBWR=AVX2|MKL_CBWR=AVX2"
          "ATEN_CPU_CAPABILITY=avx2|ATEN_CPU_CAPABILITY=avx2"
          "NPY_DISABLE_CPU_FEATURES=AVX512_ICL AVX512_SPR|NPY_DISABLE_CPU_FEATURES=AVX512_ICL AVX512_SPR"
          "recipe|MKL_CBWR=COMPATIBLE;ATEN_CPU_CAPABILITY=avx2;NPY_DISABLE_CPU_FEATURES=X86_V4 AVX512_ICL AVX512_SPR")
RUN=("$PYTHON"); [ -n "${EMULATE:-}" ] && RUN=(qemu-x86_64 -cpu "$EMULATE" "$PYTHON")
for seed in ${SEEDS//,/ }; do
  for i in "${!VARIANTS[@]}"; do
    IFS='|' read -r name pin <<< "${VARIANTS[$i]}"
    pins=(); [ -n "$pin" ] && IFS=';' read -r -a pins <<< "$pin"
    [ -n "$ONLY" ] && [[ ",$ONLY," != *",$name,"* ]] && continue
    dir="$WORK/s${seed}_$i"
    # experiments.mujoco runs in this process (a sweep's workers would escape an emulator)
    env -u MKL_CBWR "${pins[@]}" "${RUN[@]}" -m experiments.mujoco --env Walker2d --labels 700 --seed "$seed" \
      --steps 16384 --obs-norm true --input-norm labelled --log-std-init -1 --train-episode-steps 200 \
      --normalise labelled --run-dir "$dir" > "$dir.log" 2>&1 || { tail -5 "$dir.log" >&2; exit 1; }
    "$PYTHON" - "$dir" "$seed" "$name" "${EMULATE:-native}" >> "$OUT" <<'PY'
import json, sys
d, seed, name, cpu = sys.argv[1:]
first = json.loads(open(d + "/metrics.jsonl").readline())
summary = json.load(open(d + "/summary.json"))
print(json.dumps({"seed": int(seed), "pin": name, "emulated_cpu": cpu, "first_train_true_return": first["train/true_return"],
                  "cpu_time_s": summary["cpu_time"], "cpu": summary["provenance"]["cpu"],
                  "numerics": summary["provenance"]["numerics"]}))
PY
    tail -1 "$OUT"
  done
done
