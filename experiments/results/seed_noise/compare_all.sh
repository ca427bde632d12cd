#!/bin/bash
# Every comparison of experiments/results/seed_noise/README.md, one experiments.compare call each.
# Run from the project root: bash experiments/results/seed_noise/compare_all.sh [OUTDIR]
# Writes OUTDIR/NAME.json (default: this folder); compare refuses to overwrite, so remove old ones first.
set -e
R=experiments/results; OUT=${1:-$R/seed_noise}; mkdir -p "$OUT"
PY=${PYTHON:-python}
B="log_std_init=-1.0 obs_norm=True"; T="train_episode_steps=200"; N="normalise=labelled input_norm=labelled"
S="crop=0.8 pseudo_threshold=0.99"; GROW="train_episode_growth=0.5"; CUT="train_down_seconds=1.0"
W=$R/walker2d_down_1M; H=$R/hopper_down_1M; G=$R/grid_1M_growing_episodes; SN=$R/grid_1M_surf_normalise
SH=$R/grid_1M_short_normalise; HT=$R/hopper_teachers_ref_1M
c() { local name=$1; shift; echo "== $name"; $PY -m experiments.compare "$@" --out "$OUT/$name.json"; }

# the training-episode changes (walker2d_down_1M, hopper_down_1M, grid_1M_growing_episodes)
c walker2d_700_growing_cut_vs_reference "$W::Walker2d 700 labels disagreement $B $T $GROW $CUT $N" "$W::Walker2d 700 labels disagreement $B $T $N" --success 1000
c walker2d_700_growing_cut_vs_reference_paired "$W::Walker2d 700 labels disagreement $B $T $GROW $CUT $N" "$W::Walker2d 700 labels disagreement $B $T $N" --success 1000 --paired
c walker2d_700_cut_vs_reference "$W::Walker2d 700 labels disagreement $B $CUT $N" "$W::Walker2d 700 labels disagreement $B $T $N" --success 1000
c walker2d_350_surf_growing_cut_vs_reference "$W::Walker2d 350 labels disagreement $B $T $GROW $CUT $N $S" "$W::Walker2d 350 labels disagreement $B $T $N $S" --success 1000
c walker2d_true_cut_vs_reference "$W::Walker2d true reward $B $CUT" "$W::Walker2d true reward $B $T" --success 1000
c walker2d_true_growing_cut_vs_cut "$W::Walker2d true reward $B $T $GROW $CUT" "$W::Walker2d true reward $B $CUT" --success 1000
c walker2d_true_growing_cut_vs_reference "$W::Walker2d true reward $B $T $GROW $CUT" "$W::Walker2d true reward $B $T" --success 1000
c walker2d_true_growing_vs_reference "$G::Walker2d true reward $B $T $GROW" "$W::Walker2d true reward $B $T" --success 1000
c hopper_true_cut_vs_reference "$H::Hopper true reward $B $CUT" "$H::Hopper true reward $B $T" --success 1000
c hopper_true_growing_vs_reference "$G::Hopper true reward $B $T $GROW" "$G::Hopper true reward $B $T" --success 1000
c hopper_700_growing_vs_fixed "$G::Hopper 700 labels disagreement $B $T $GROW $N" "$SH::Hopper 700 labels disagreement $B $T $N" --success 1000
c hopper_700_cut_vs_reference "$H::Hopper 700 labels disagreement $B $T $GROW $CUT $N" "$H::Hopper 700 labels disagreement $B $T $GROW $N" --success 1000
c hopper_700_cut_vs_reference_paired "$H::Hopper 700 labels disagreement $B $T $GROW $CUT $N" "$H::Hopper 700 labels disagreement $B $T $GROW $N" --success 1000 --paired
c hopper_350_surf_cut_vs_surf "$H::Hopper 350 labels disagreement $B $T $GROW $CUT $N $S" "$H::Hopper 350 labels disagreement $B $T $GROW $N $S" --success 1000

# variants of the reference setting (grid_1M_surf_normalise, grid_1M_short_normalise)
for e in Hopper Walker2d HalfCheetah; do
  g=""; [ $e = Hopper ] && g=" $GROW"
  c ${e,,}_350_surf_vs_without "$SN::$e 350 labels disagreement $B $T$g $N $S" "$SN::$e 350 labels disagreement $B $T$g $N"
  c ${e,,}_700_surf_vs_without "$SN::$e 700 labels disagreement $B $T$g $N $S" "$SN::$e 700 labels disagreement $B $T$g $N"
  c ${e,,}_700_normalise_labelled_vs_default "$SH::$e 700 labels disagreement $B $T $N" "$SH::$e 700 labels disagreement $B $T input_norm=labelled"
  c ${e,,}_700_uniform_vs_disagreement "$SH::$e 700 labels uniform $B $T $N" "$SH::$e 700 labels disagreement $B $T $N"
  c ${e,,}_350_members5_vs_3 "$SH::$e 350 labels disagreement $B $T members=5 $N" "$SH::$e 350 labels disagreement $B $T $N"
  c ${e,,}_350_explore_vs_not "$SH::$e 350 labels disagreement $B explore_steps=100000 $T $N" "$SH::$e 350 labels disagreement $B $T $N"
done

# the paper's defaults: reward-model inputs, the offline ablation, teachers (hopper_700_1M_inputnorm, hopper_offline_1M, hopper_teachers_1M)
c hopper_700_input_norm_vs_default "$R/hopper_700_1M_inputnorm::Hopper 700 labels disagreement input_norm=labelled" "$R/hopper_700_1M_inputnorm::Hopper 700 labels disagreement" --success 1000
c hopper_700_offline_vs_online "$R/hopper_offline_1M::Hopper 700 labels disagreement offline=True" "$R/hopper_offline_1M::Hopper 700 labels disagreement" --success 1000
for t in beta=1.0 epsilon=0.1 equal_threshold=3.0 gamma=0.9 score=height_biased skip_threshold=15.0; do
  c hopper_700_teacher_${t%%=*}_vs_perfect "$R/hopper_teachers_1M::Hopper 700 labels disagreement $t" "$R/hopper_teachers_1M::Hopper 700 labels disagreement" --success 1000
done

# the teachers in the reference setting (hopper_teachers_ref_1M: 7 seeds each against the perfect oracle's 10)
for t in beta=1.0 epsilon=0.1 score=height_biased; do
  c hopper_ref_700_teacher_${t%%=*}_vs_perfect "$HT::Hopper 700 labels disagreement $B $T $GROW $N $t" "$HT::Hopper 700 labels disagreement $B $T $GROW $N" --success 1000
done

# the README's table, from the JSON files just written
$PY - "$OUT" > "$OUT/table.md" <<'PYEOF'
import json, sys
from pathlib import Path

def cpus(group):  # "3 Intel + 4 AMD": the CPU models the group's seeds ran on
    return " + ".join(f"{n} {cpu.split('(')[0].split()[0]}" for cpu, n in group["cpus"].items())

print("| comparison (A vs B: file) | seeds A / B | A - B [95% bootstrap] | p | P(A > B) | seeds a group to tell | above 1000, A / B | CPUs A / B |")
print("|---|---|---|---|---|---|---|---|")
for f in sorted(Path(sys.argv[1]).glob("*.json")):
    r = json.loads(f.read_text())
    a, b = r["groups"]
    low, high = r["mean_difference_ci95"]
    s = r.get("success")
    need = r["seeds_needed_80pct_power"]
    p = r["permutation_p"]
    print(f"| `{f.stem}` | {len(a['seeds'])} / {len(b['seeds'])} | {r['mean_difference']:.0f} [{low:.0f}, {high:.0f}] | "
          + (f"**{p:.3f}**" if p < 0.05 else f"{p:.3f}") + f" | {r['prob_improvement']:.2f} | "
          + ("none (equal means)" if need is None else f"~{need:.0f}" if need < 10_000 else "> 10,000") + " | "
          + (f"{s['above'][0]} of {s['seeds'][0]} / {s['above'][1]} of {s['seeds'][1]}" if s else "")
          + f" | {cpus(a)} / {cpus(b)} |")
PYEOF
