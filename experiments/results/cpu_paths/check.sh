#!/bin/bash
# The first training record of one preference run (Walker2d, seed 1, the reference 700-label setting:
# 16,384 steps of the initial policy after the pretraining labels) under each pin of a library's
# floating-point code path. Writes results.json beside this script; refuses to overwrite it.
#   PYTHON=.venv/bin/python bash experiments/results/cpu_paths/check.sh [SEEDS]
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd); OUT="$HERE/results.json"
PYTHON=${PYTHON:-python}; SEEDS=${1:-1}
[ -e "$OUT" ] && { echo "error: $OUT exists; move it away to measure again" >&2; exit 1; }
export MUJOCO_GL=${MUJOCO_GL:-egl}
WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
O=obs_norm=true,input_norm=labelled,log_std_init=-1,train_episode_steps=200,normalise=labelled
VARIANTS=("default|" "MKL_CBWR=COMPAT|MKL_CBWR=COMPAT" "MKL_CBWR=AVX2|MKL_CBWR=AVX2" "MKL_CBWR=AVX512|MKL_CBWR=AVX512"
          "ATEN_CPU_CAPABILITY=avx2|ATEN_CPU_CAPABILITY=avx2"
          "NPY_DISABLE_CPU_FEATURES=AVX512_ICL AVX512_SPR|NPY_DISABLE_CPU_FEATURES=AVX512_ICL AVX512_SPR")
for seed in ${SEEDS//,/ }; do
  for i in "${!VARIANTS[@]}"; do
    IFS='|' read -r name pin <<< "${VARIANTS[$i]}"
    dir="$WORK/s${seed}_$i"
    env ${pin:+"$pin"} "$PYTHON" -m experiments.sweep --steps 16384 --workers 1 --out "$dir" --envs Walker2d \
      --seeds "$seed" --labels 700 --baseline false --overrides "$O" > "$dir.log" 2>&1 || { cat "$dir.log" >&2; exit 1; }
    printf '%s\t%s\t%s\n' "$seed" "$name" "$dir" >> "$WORK/index.tsv"
  done
done
"$PYTHON" - "$WORK/index.tsv" "$OUT" <<'PY'
import glob, json, sys
rows = []
for line in open(sys.argv[1]):
    seed, name, d = line.rstrip("\n").split("\t")
    run = glob.glob(d + "/runs/*/")[0]
    first = json.loads(open(run + "metrics.jsonl").readline())
    summary = json.load(open(run + "summary.json"))
    rows.append({"seed": int(seed), "pin": name, "first_train_true_return": first["train/true_return"],
                 "cpu_time_s": summary["cpu_time"], "cpu": summary["provenance"]["cpu"],
                 "numerics": summary["provenance"]["numerics"]})
json.dump({"rows": rows}, open(sys.argv[2], "x"), indent=1)
for r in rows:
    print(f"seed {r['seed']}  {r['pin']:<48} {r['first_train_true_return']!r:<22} cpu {r['cpu_time_s']:.1f} s")
PY
