#!/bin/bash
# What MKL_CBWR=COMPATIBLE costs: PPO on Hopper's true reward, 65,536 steps (4 chunks), seed 0, the
# reference RL settings, without and with the pin, alternated ROUNDS times (default 3). Appends one JSON
# line per run (CPU and wall seconds) to cost.jsonl beside this script.
#   PYTHON=.venv/bin/python bash experiments/results/cpu_paths/cost.sh [ROUNDS]
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd); PYTHON=${PYTHON:-python}
export MUJOCO_GL=${MUJOCO_GL:-egl}
WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
for round in $(seq "${1:-3}"); do
  for pin in unset COMPATIBLE; do
    dir="$WORK/${pin}_$round"
    if [ "$pin" = unset ]; then run=(env -u MKL_CBWR); else run=(env MKL_CBWR="$pin"); fi
    "${run[@]}" "$PYTHON" -m experiments.mujoco --env Hopper --true-reward --seed 0 --steps 65536 --obs-norm true \
      --log-std-init -1 --train-episode-steps 200 --run-dir "$dir" > "$dir.log" 2>&1 || { tail -5 "$dir.log" >&2; exit 1; }
    "$PYTHON" -c 'import json, sys; s = json.load(open(sys.argv[1])); print(json.dumps({"MKL_CBWR": sys.argv[2], "round": int(sys.argv[3]), "cpu_time_s": s["cpu_time"], "wall_time_s": s["wall_time"], "final_true_return": s["final_true_return"]}))' \
      "$dir/summary.json" "$pin" "$round" | tee -a "$HERE/cost.jsonl"
  done
done
