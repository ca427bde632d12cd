"""The benchmark's figures, drawn from a results folder (see prefrl.results)."""

from __future__ import annotations

import math
import re
import textwrap
from collections import defaultdict
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker as mticker  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from prefrl.results import Run, across_tasks, mean_ci  # noqa: E402


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


BASELINE_STYLES = ("--", ":", "-.", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 3)))
"""Line styles of a task's true-reward baselines (raw reward black, standardised grey), in turn."""

ONLY_SHARED = "the shared settings only"
"""Legend text of the series whose settings are all in the caption."""


def _head(run: Run) -> str:
    """What a run's group name says first after the task: its label budget, or which true reward."""
    c = run.config
    if c["true_reward"]:
        return "true reward" + (" scaled" if c.get("scale_true_reward") else "")
    return f"{c['labels']} labels"


def shorten(settings: dict[str, list[str]]) -> tuple[dict[str, str], list[str]]:
    """Legend text for series that share most of their settings (``name=value`` and selector
    words, as ``results.Run.setting``): each series' own words, without those every series has,
    and the shared words once, for a caption. A group name holding every setting runs wider than a
    figure (a legend of them squashes the axes); what tells two lines apart is what differs."""
    lists = list(settings.values())
    common = [word for word in lists[0] if all(word in other for other in lists[1:])] if lists else []
    return {key: " ".join(w for w in words if w not in common) for key, words in settings.items()}, common


def _caption(fig, lines: list[str], width: int) -> None:
    """The settings every series shares, once, above the panels."""
    text = "\n".join(textwrap.fill(line, width) for line in lines if line)
    if text:
        fig.suptitle(text, fontsize=8)


def _shared_legend(fig, entries: dict[str, object]) -> None:
    """One legend for all panels (label: handle), under them: the panels share their series."""
    if entries:
        fig.legend(list(entries.values()), list(entries), loc="upper center", bbox_to_anchor=(0.5, 0.0),
                   ncol=min(3, len(entries)), fontsize=8, frameon=False)


def _in_order(text) -> list:
    """Sort key reading numbers as numbers: 350 labels before 1400 labels."""
    return [(0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", str(text)) if t]


def _colours(keys) -> dict:
    """A colour per series, the same in every panel."""
    palette = plt.get_cmap("tab10" if len(keys) <= 10 else "tab20").colors
    return {key: palette[i % len(palette)] for i, key in enumerate(sorted(keys, key=_in_order))}


def _save(fig, path: Path) -> dict[str, Any]:
    """Write the figure; returns what it shows in words: panel titles, legend entries, caption."""
    drawn = {"panels": [ax.get_title() for ax in fig.axes if ax.get_title()],
             "legend": [t.get_text() for legend in fig.legends for t in legend.get_texts()],
             "caption": fig.get_suptitle()}
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")  # "tight": the legend and caption outside the axes are kept
    plt.close(fig)
    return drawn


def _panel_width(n: int) -> float:
    return 4.6 if n > 1 else 6.0


def _n_seeds(counts: list[int]) -> str:
    return f"n={min(counts)}" if min(counts) == max(counts) else f"n={min(counts)}-{max(counts)}"


def learning_curves(runs: list[Run], path: Path, key: str = "eval/true_return") -> dict[str, Any]:
    """(1) Per task: true return vs env steps, one line per group (the same colour on every task),
    mean and 95% band over seeds; one legend of what tells the lines apart, the shared settings above."""
    envs = sorted({r.config["env"] for r in runs})
    groups = _by_group(runs)
    # preference groups named apart from each other, baselines from every group; the same name on every task
    label, pref_common = _preference_labels(runs)
    _, common = shorten({group: members[0].setting for group, members in groups.items()})
    colours = _colours(set(label.values()))
    label |= {group: " ".join([_head(m[0]), *(w for w in m[0].setting if w not in common)])
              for group, m in groups.items() if m[0].config["true_reward"]}
    counts: dict[str, list[int]] = defaultdict(list)
    handles: dict[str, object] = {}
    fig, axes = plt.subplots(1, len(envs), figsize=(_panel_width(len(envs)) * len(envs), 3.8), squeeze=False)
    for ax, env in zip(axes[0], envs, strict=True):
        means, other_rl = [], 0
        for group, members in groups.items():
            if members[0].config["env"] != env:
                continue
            steps, mean, half = _curve(members, key)
            if len(steps) == 0:
                continue
            means.append(mean)
            # baselines black on the raw reward, gray standardised; dashed, then dotted, dash-dotted, ...
            style = {"color": colours.get(label[group])}
            if members[0].config["true_reward"]:
                style = {"color": "dimgray" if members[0].config.get("scale_true_reward") else "black",
                         "ls": BASELINE_STYLES[other_rl % len(BASELINE_STYLES)]}
                other_rl += 1
            line, = ax.plot(steps, mean, **style)
            ax.fill_between(steps, mean - half, mean + half, alpha=0.2, color=line.get_color())
            handles.setdefault(label[group], line)
            counts[label[group]].append(len(members))
        if means:  # frame the means: a 2-seed interval (t = 12.7) would squash every line flat
            lo, hi = float(np.nanmin(np.concatenate(means))), float(np.nanmax(np.concatenate(means)))
            pad = 0.25 * (hi - lo) or 1.0
            ax.set_ylim(lo - pad, hi + pad)
        ax.set(title=env, xlabel="environment steps")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("true return (deterministic eval)")
    order = sorted(handles, key=lambda name: (name.startswith("true reward"), _in_order(name)))
    _shared_legend(fig, {f"{name} ({_n_seeds(counts[name])})": handles[name] for name in order})
    pref_only = [w for w in pref_common if w not in common]
    _caption(fig, [f"every run: {' '.join(common)}" if common else "",
                   f"every preference run: {' '.join(pref_only)}" if pref_only else ""], 70 * len(envs))
    return _save(fig, path)


def _budget_axis(ax, budgets: list[int]) -> None:
    """Log axis of label budgets, ticked at the budgets measured, written out."""
    ax.set_xscale("log")
    ax.set_xticks(budgets)
    ax.xaxis.set_major_formatter(mticker.FuncFormatter(lambda x, _: f"{x:.0f}"))
    ax.xaxis.set_minor_locator(mticker.NullLocator())
    ax.set_xlim(min(budgets) / 1.35, max(budgets) * 1.35)


def bits_of_feedback(summary: dict, path: Path) -> dict[str, Any]:
    """(2) Final true return as % of true-reward RL vs labels (bits of feedback), log axis: a panel
    per task, and the mean over tasks where a setting was measured on every task (the issue's
    targets); 0% is the baseline's first evaluation (about the initial policy), 100% its final
    return; bars: 95% bootstrap intervals over seeds (``results.summarise``, ``results.across_tasks``).
    A line joins the budgets of one setting; its colour is the same in every panel."""
    points: dict[str, dict[tuple, list[tuple[int, float, float, float]]]] = defaultdict(lambda: defaultdict(list))
    undefined = set()  # tasks whose true-reward baseline learned nothing: no % (results.summarise)
    for s in summary.values():
        if "return_vs_true_reward_pct" not in s:
            continue
        pct = s["return_vs_true_reward_pct"]
        if not math.isfinite(pct):
            undefined.add(s["env"])
            continue
        lo, hi = s.get("return_vs_true_reward_pct_ci95", (pct, pct))
        points[s["env"]][tuple(s["setting"])].append((s["labels"], pct, lo, hi))
    envs = sorted(points)
    panels = {env: points[env] for env in envs}
    rows = [row for row in across_tasks(summary).values() if len(envs) > 1 and set(row["pct_per_task"]) == set(envs)]
    for row in rows:
        panels.setdefault("mean over tasks", defaultdict(list))[tuple(row["setting"])].append(
            (row["labels"], row["mean_pct"], *row["mean_pct_ci95"]))
    keys = sorted({k for lines in panels.values() for k in lines})
    short, common = shorten({k: list(k) for k in keys})
    colours = _colours(keys)
    budgets = sorted({p[0] for lines in panels.values() for pts in lines.values() for p in pts})
    handles: dict[str, object] = {}
    n = max(1, len(panels))
    fig, axes = plt.subplots(1, n, figsize=(_panel_width(n) * n, 3.8), squeeze=False, sharey=True)
    for ax, (title, lines) in zip(axes[0], panels.items(), strict=False):
        for k, pts in sorted(lines.items()):
            labels, pct, lo, hi = (np.array(column, dtype=float) for column in zip(*sorted(pts), strict=True))
            bars = np.nan_to_num(np.stack([pct - lo, hi - pct]))  # no bar for a single seed
            nudge = 1 + 0.03 * (keys.index(k) - (len(keys) - 1) / 2)  # side by side: bars do not hide each other
            h = ax.errorbar(labels * nudge, pct, yerr=bars, fmt="o-", capsize=3, color=colours[k])
            handles.setdefault(short[k] or ONLY_SHARED, h)
        ax.axhline(100, color="black", ls="--", lw=1)
        ax.axhline(0, color="grey", lw=0.8)
        _budget_axis(ax, budgets)
        ax.set(title=title, xlabel="labels (bits of feedback)")
        ax.grid(alpha=0.3)
    if undefined:
        axes[0][-1].text(0.02, 0.02, f"not shown, true-reward RL learned nothing: {', '.join(sorted(undefined))}",
                         transform=axes[0][-1].transAxes, fontsize=8)
    axes[0][0].set_ylabel("final true return, % of true-reward RL\n(0% = initial policy)")
    handles["true-reward RL (100%)"] = Line2D([], [], color="black", ls="--", lw=1)
    _shared_legend(fig, handles)
    _caption(fig, [f"every run: {' '.join(common)}" if common else ""], 70 * n)
    return _save(fig, path)


def _preference_labels(runs: list[Run]) -> tuple[dict[str, str], list[str]]:
    """Per preference group: its budget and what sets it apart from the other preference groups
    (every task), and the settings they all share (for the caption)."""
    groups = _by_group([r for r in runs if not r.config["true_reward"]])
    short, common = shorten({group: members[0].setting for group, members in groups.items()})
    return {group: " ".join(filter(None, [_head(m[0]), short[group]])) for group, m in groups.items()}, common


def reward_model_accuracy(runs: list[Run], path: Path) -> dict[str, Any]:
    """(3) Reward-model accuracy on labels not yet trained on, vs labels so far: a panel per task,
    a line per preference group (seeds pooled, a moving average over a fifteenth of the points)."""
    pref = [r for r in runs if not r.config["true_reward"]]
    names, common = _preference_labels(pref)
    envs = sorted({r.config["env"] for r in pref}) or [""]
    colours = _colours(set(names.values()))
    handles: dict[str, object] = {}
    fig, axes = plt.subplots(1, len(envs), figsize=(_panel_width(len(envs)) * len(envs), 3.8), squeeze=False,
                             sharey=True)
    for ax, env in zip(axes[0], envs, strict=True):
        for group, members in _by_group([r for r in pref if r.config["env"] == env]).items():
            points = sorted((m["labels"], m["rm/heldout_accuracy"]) for r in members for m in r.metrics
                            if isinstance(m.get("rm/heldout_accuracy"), (int, float)))
            if not points:
                continue
            xs, ys = (np.array(column, dtype=float) for column in zip(*points, strict=True))
            window = max(1, len(ys) // 15)
            smooth = np.convolve(ys, np.ones(window) / window, mode="valid")
            line, = ax.plot(xs[window - 1:], smooth, color=colours[names[group]])
            handles.setdefault(names[group], line)
        ax.axhline(0.5, color="grey", lw=1)
        ax.set(title=env, xlabel="labels", ylim=(0.3, 1.0))
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("accuracy on new labels (before fitting them)")
    _shared_legend(fig, {name: handles[name] for name in sorted(handles, key=_in_order)})
    _caption(fig, [f"every preference run: {' '.join(common)}" if common else ""], 70 * len(envs))
    return _save(fig, path)


def hacking(runs: list[Run], path: Path, threshold: float = 0.6) -> dict[str, Any]:
    """(4) Does r_hat still order the agent's behaviour like the truth? Agreement on fresh
    on-policy segment pairs over training, beside the true return; steps where agreement falls
    below ``threshold`` are marked (r_hat and the truth part ways: reward hacking)."""
    pref = [r for r in runs if not r.config["true_reward"]]
    groups = _by_group(pref)
    names, common = _preference_labels(pref)
    fig, axes = plt.subplots(len(groups) or 1, 1, figsize=(7, 3.2 * max(1, len(groups))), squeeze=False)
    for ax, (group, members) in zip(axes[:, 0], groups.items(), strict=False):
        steps, agree, _ = _curve(members, "rm/agreement")
        ax.plot(steps, agree, color="tab:blue", label="r_hat vs true ordering (fresh pairs)")
        low = agree < threshold
        ax.scatter(steps[low], agree[low], color="red", zorder=3, label=f"agreement < {threshold}")
        ax.set(title=f"{members[0].config['env']}, {names[group]} (n={len(members)})", xlabel="environment steps",
               ylabel="agreement", ylim=(0, 1.05))
        twin = ax.twinx()
        s2, ret, _ = _curve(members, "train/true_return")
        twin.plot(s2, ret, color="tab:green", alpha=0.7, label="true return (training episodes)")
        twin.set_ylabel("true return")
        ax.legend(loc="lower left", fontsize=7)
        twin.legend(loc="lower right", fontsize=7)
    _caption(fig, [f"every preference run: {' '.join(common)}" if common else ""], 80)
    return _save(fig, path)
