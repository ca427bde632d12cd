"""How long the down-cut runs' training episodes last, and whether that keeps growing (see README.md).

    python experiments/results/walker2d_down_1M/training_episodes.py    # writes training_episodes.json here

With ``--train-down-seconds 1`` a training episode ends 1 s (125 steps) after the body goes down, or at
the training horizon, so ``train/episode_length`` (metrics.jsonl, mean over a chunk's finished episodes)
measures how long the policy stays up in training. Per group and seed: that length averaged over the
records in three windows of the run, likewise the return per training step and the policy's action
std, and the final evaluation.
Runs made before metrics.jsonl recorded episode lengths (seeds 0-3 of the down-cut baseline) are left out.
"""

import json
from pathlib import Path

import numpy as np

from experiments.compare import permutation_p
from prefrl.results import load_runs

HERE = Path(__file__).parent
COMMON = "log_std_init=-1.0 obs_norm=True"
GROUPS = {
    "down-cut alone (PPO, true reward)": f"Walker2d true reward {COMMON} train_down_seconds=1.0",
    "growing + down-cut (PPO, true reward)":
        f"Walker2d true reward {COMMON} train_episode_steps=200 train_episode_growth=0.5 train_down_seconds=1.0",
    "growing + down-cut, 700 labels": f"Walker2d 700 labels disagreement {COMMON} train_episode_steps=200 "
                                      "train_episode_growth=0.5 train_down_seconds=1.0 normalise=labelled input_norm=labelled",
}
WINDOWS = {"250-350k": (250_000, 350_000), "450-550k": (450_000, 550_000), "900k-1M": (900_000, 1_000_000)}


def window_mean(records, value, low, high):
    """Mean of ``value(record)`` over the records between env steps ``low`` and ``high`` (None if none)."""
    values = [value(m) for m in records if low <= m["env_steps"] <= high]
    return float(np.mean(values)) if values else None


MEASURES = {  # per record of metrics.jsonl
    "episode_length": lambda m: m["train/episode_length"],
    "return_per_training_step": lambda m: m["train/true_return"] / m["train/episode_length"],
    "action_std": lambda m: m["train/action_std"],
}


def main():
    runs = load_runs(HERE)
    out, growth = {}, {}
    for label, group in GROUPS.items():
        rows = []
        for run in sorted((r for r in runs if r.group == group and r.summary), key=lambda r: r.config["seed"]):
            records = [m for m in run.metrics if "train/episode_length" in m]
            if not records:
                continue
            rows.append({"seed": run.config["seed"],
                         **{key: {name: window_mean(records, value, *span) for name, span in WINDOWS.items()}
                            for key, value in MEASURES.items()},
                         "final_true_return": run.summary["final_true_return"]})
        growth[label] = np.array([r["episode_length"]["900k-1M"] - r["episode_length"]["450-550k"] for r in rows])
        walking = [r for r in rows if r["final_true_return"] > 1000]
        out[label] = {"group": group, "seeds": rows,
                      **{f"mean_{key}": {name: float(np.mean([r[key][name] for r in rows])) for name in WINDOWS}
                         for key in MEASURES},
                      "mean_growth_450_550k_to_900k_1M": float(np.mean(growth[label])),
                      "seeds_growing_by_over_50_steps": int(sum(growth[label] > 50)),
                      "seeds_walking": len(walking)}
        print(f"{label} ({len(rows)} seeds; {len(walking)} walking):")
        print("  mean training episode length " + ", ".join(
            f"{name} {value:.0f}" for name, value in out[label]["mean_episode_length"].items())
              + f"; growth from 500k to the end {np.mean(growth[label]):+.0f} steps "
              f"({out[label]['seeds_growing_by_over_50_steps']} of {len(rows)} seeds grew by > 50)")
        for key in ("return_per_training_step", "action_std"):
            print(f"  mean {key.replace('_', ' ')} " + ", ".join(
                f"{name} {value:.2f}" for name, value in out[label][f"mean_{key}"].items()))
        for r in rows:
            print(f"  seed {r['seed']:2d}: " + " ".join(f"{v:4.0f}" for v in r["episode_length"].values())
                  + f"  per step at the end {r['return_per_training_step']['900k-1M']:5.2f}"
                  f"  final {r['final_true_return']:6.0f}")
    # does the growth from 500k to the end differ between the growing baseline and each other group?
    reference = "growing + down-cut (PPO, true reward)"
    rng = np.random.default_rng(0)
    for label in growth:
        if label != reference:
            p, how = permutation_p(growth[label], growth[reference], rng)
            out[label]["growth_vs_growing_baseline_permutation_p"] = p
            print(f"growth from 500k to the end, {label} against {reference}: permutation p = {p:.3f} ({how})")
    (HERE / "training_episodes.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
