"""The benchmark's figures, drawn from a results folder (see prefrl.results)."""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from prefrl.results import Run, mean_ci  # noqa: E402


def _curve(runs: list[Run], key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and 95% band over seeds of metric ``key``, at every env step where some seed has it
    within the range all seeds cover; each seed interpolated linearly between its own points."""
    series = [sorted((m["env_steps"], m[key]) for m in r.metrics if isinstance(m.get(key), (int, float)))
              for r in runs]
    series = [s for s in series if s]
    if not series:
        return np.array([]), np.array([]), np.array([])
    lo, hi = max(s[0][0] for s in series), min(s[-1][0] for s in series)
    steps = sorted({t for s in series for t, _ in s if lo <= t <= hi})
    values = [np.interp(steps, [t for t, _ in s], [v for _, v in s]) for s in series]
    stats = [mean_ci([float(v[i]) for v in values]) for i in range(len(steps))]
    mean = np.array([m for m, _ in stats])
    half = np.nan_to_num(np.array([h for _, h in stats]))
    return np.array(steps), mean, half


def _by_group(runs: list[Run]) -> dict[str, list[Run]]:
    groups: dict[str, list[Run]] = defaultdict(list)
    for r in runs:
        groups[r.group].append(r)
    return dict(sorted(groups.items()))


OTHER_RL_STYLES = (":", "-.", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 3)))
"""Line styles of true-reward baselines with RL settings other than the default, in turn."""


def _legend_below(ax) -> None:
    """The legend under the axes, one entry per line: a group's name (task setting, labels,
    knobs) is often wider than the plot, and inside the axes it would cover the curves."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(0, -0.2), frameon=False)


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")  # "tight": the legend below the axes is kept
    plt.close(fig)


def learning_curves(runs: list[Run], path: Path, key: str = "eval/true_return") -> None:
    """(1) Per task: true return vs env steps, one line per group, mean and 95% band over seeds."""
    envs = sorted({r.config["env"] for r in runs})
    fig, axes = plt.subplots(1, len(envs), figsize=(6 * len(envs), 4.2), squeeze=False)
    for ax, env in zip(axes[0], envs, strict=True):
        means, other_rl = [], 0
        for group, members in _by_group([r for r in runs if r.config["env"] == env]).items():
            steps, mean, half = _curve(members, key)
            if len(steps) == 0:
                continue
            means.append(mean)
            # baselines black on the raw reward, gray standardised; dashed with the default RL settings,
            # dotted, dash-dotted, ... with others
            style = {}
            if members[0].config["true_reward"]:
                style = {"color": "dimgray" if members[0].config.get("scale_true_reward") else "black", "ls": "--"}
                if members[0].knobs:
                    style["ls"] = OTHER_RL_STYLES[other_rl % len(OTHER_RL_STYLES)]
                    other_rl += 1
            line, = ax.plot(steps, mean, label=f"{group.removeprefix(env + ' ')} (n={len(members)})", **style)
            ax.fill_between(steps, mean - half, mean + half, alpha=0.2, color=line.get_color())
        if means:  # frame the means: a 2-seed interval (t = 12.7) would squash every line flat
            lo, hi = float(np.nanmin(np.concatenate(means))), float(np.nanmax(np.concatenate(means)))
            pad = 0.25 * (hi - lo) or 1.0
            ax.set_ylim(lo - pad, hi + pad)
        ax.set(title=env, xlabel="environment steps", ylabel="true return (deterministic eval)")
        _legend_below(ax)
        ax.grid(alpha=0.3)
    _save(fig, path)


def bits_of_feedback(summary: dict, path: Path) -> None:
    """(2) Final true return as % of true-reward RL vs labels (bits of feedback), log axis;
    0% is the baseline's first evaluation (about the initial policy), 100% its final return; bars:
    the 95% bootstrap interval over seeds (``results.summarise``)."""
    fig, ax = plt.subplots(figsize=(6, 4.2))
    by_line: dict[str, list[tuple[int, float, float, float]]] = defaultdict(list)
    undefined = set()  # tasks whose true-reward baseline learned nothing: no % (results.summarise)
    for group, s in summary.items():
        if "return_vs_true_reward_pct" in s:
            if not math.isfinite(s["return_vs_true_reward_pct"]):
                undefined.add(s["env"])
                continue
            rest = group.split(" labels ", 1)[-1]
            pct = s["return_vs_true_reward_pct"]
            lo, hi = s.get("return_vs_true_reward_pct_ci95", (pct, pct))
            by_line[f"{s['env']} {rest}"].append((s["labels"], pct, lo, hi))
    for i, (name, points) in enumerate(sorted(by_line.items())):
        labels, pct, lo, hi = (np.array(column, dtype=float) for column in zip(*sorted(points), strict=True))
        bars = np.nan_to_num(np.stack([pct - lo, hi - pct]))  # no bar for a single seed
        nudge = 1 + 0.015 * (i - (len(by_line) - 1) / 2)  # lines side by side, so bars do not hide each other
        ax.errorbar(labels * nudge, pct, yerr=bars, fmt="o-", capsize=3, label=name)
    ax.axhline(100, color="black", ls="--", lw=1, label="RL on the true reward")
    if undefined:
        ax.text(0.02, 0.02, f"not shown, true-reward RL learned nothing: {', '.join(sorted(undefined))}",
                transform=ax.transAxes, fontsize=8)
    if by_line:
        ax.set_xscale("log")
    ax.set(xlabel="labels (bits of feedback)", ylabel="final true return, % of true-reward RL\n(0% = initial policy)")
    _legend_below(ax)
    ax.grid(alpha=0.3, which="both")
    _save(fig, path)


def reward_model_accuracy(runs: list[Run], path: Path) -> None:
    """(3) Reward-model accuracy on labels not yet trained on, vs labels so far."""
    fig, ax = plt.subplots(figsize=(6, 4.2))
    for group, members in _by_group([r for r in runs if not r.config["true_reward"]]).items():
        xs, ys = [], []
        for r in members:
            for m in r.metrics:
                if isinstance(m.get("rm/heldout_accuracy"), (int, float)):
                    xs.append(m["labels"])
                    ys.append(m["rm/heldout_accuracy"])
        if xs:
            order = np.argsort(xs)
            xs, ys = np.array(xs)[order], np.array(ys)[order]
            window = max(1, len(ys) // 15)
            smooth = np.convolve(ys, np.ones(window) / window, mode="valid")
            ax.plot(xs[window - 1:], smooth, label=group)
    ax.axhline(0.5, color="grey", lw=1)
    ax.set(xlabel="labels", ylabel="accuracy on new labels (before fitting them)", ylim=(0.3, 1.0))
    _legend_below(ax)
    ax.grid(alpha=0.3)
    _save(fig, path)


def hacking(runs: list[Run], path: Path, threshold: float = 0.6) -> None:
    """(4) Does r_hat still order the agent's behaviour like the truth? Agreement on fresh
    on-policy segment pairs over training, beside the true return; steps where agreement falls
    below ``threshold`` are marked (r_hat and the truth part ways: reward hacking)."""
    pref = [r for r in runs if not r.config["true_reward"]]
    groups = _by_group(pref)
    fig, axes = plt.subplots(len(groups) or 1, 1, figsize=(7, 3.2 * max(1, len(groups))), squeeze=False)
    for ax, (group, members) in zip(axes[:, 0], groups.items(), strict=False):
        steps, agree, _ = _curve(members, "rm/agreement")
        ax.plot(steps, agree, color="tab:blue", label="r_hat vs true ordering (fresh pairs)")
        low = agree < threshold
        ax.scatter(steps[low], agree[low], color="red", zorder=3, label=f"agreement < {threshold}")
        ax.set(title=group, xlabel="environment steps", ylabel="agreement", ylim=(0, 1.05))
        twin = ax.twinx()
        s2, ret, _ = _curve(members, "train/true_return")
        twin.plot(s2, ret, color="tab:green", alpha=0.7, label="true return (training episodes)")
        twin.set_ylabel("true return")
        ax.legend(loc="lower left", fontsize=7)
        twin.legend(loc="lower right", fontsize=7)
    _save(fig, path)
