"""Reading a results folder (one run directory per run under RESULTS/runs/) and summarising it."""

from __future__ import annotations

import json
import math
import zlib
from collections import defaultdict
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from prefrl import run_dir
from prefrl.config import ConfigError, RunConfig

T_95 = {1: 12.71, 2: 4.30, 3: 3.18, 4: 2.78, 5: 2.57, 6: 2.45, 7: 2.36, 8: 2.31, 9: 2.26}


# Settings that split runs into groups when they differ from RunConfig's defaults (as JSON strings):
# every setting of the learning, so runs of different settings never share a group; not the ones
# named in the group anyway, the seed, or how long and how often it is evaluated.
_NOT_KNOBS = {"env", "labels", "true_reward", "selector", "seed", "steps", "eval_every", "eval_episodes",
              "final_eval_episodes"}
# The settings of a true-reward baseline's RL (marked ``rl`` in RunConfig); the rest are the
# preference loop's (a sweep's overrides reach its baselines too, where they change nothing).
_RL_KNOBS = {f.name for f in fields(RunConfig) if f.metadata.get("rl")}
_GROUP_KNOBS = {f.name: str(run_dir._jsonable(f.default)) for f in fields(RunConfig) if f.name not in _NOT_KNOBS}


@dataclass(frozen=True)
class Run:
    name: str
    config: dict[str, Any]
    metrics: list[dict[str, Any]]
    summary: dict[str, Any] | None

    @property
    def group(self) -> str:
        """Runs that differ only in seed share a group: env, labels (or 'true'), selector, oracle,
        and every other setting not at its default (a baseline's too, e.g. ``obs_norm``)."""
        c = self.config
        if c["true_reward"]:
            return baseline_group(c["env"], bool(c.get("scale_true_reward")), self.knobs)
        return " ".join([c["env"], f"{c['labels']} labels", *self.setting])

    @property
    def setting(self) -> list[str]:
        """The group's name beside the task and the budget: selector (preference runs) and knobs."""
        return self.knobs if self.config["true_reward"] else [self.config["selector"], *self.knobs]

    @property
    def knobs(self) -> list[str]:
        """``name=value`` of the settings not at their defaults; for a baseline, of its RL's only."""
        c = self.config
        return [f"{k.removeprefix('oracle_')}={c[k]}" for k, v in _GROUP_KNOBS.items()
                if k in c and str(c[k]) != v and (k in _RL_KNOBS or not c["true_reward"])]


def baseline_group(env: str, scaled: bool = False, knobs: list[str] = ()) -> str:
    """Group name of a task's true-reward baseline (raw, or standardised with ``scale_true_reward``),
    and its settings not at their defaults."""
    return " ".join([f"{env} true reward" + (" scaled" if scaled else ""), *knobs])


def own_baseline(run: Run, baselines: dict[str, Run]) -> str | None:
    """Of a task's baseline groups (name: one of its runs), the raw-reward one made with the most
    of ``run``'s settings: the same RL as the preference run without the loop (for R0 and the
    overhead); None if none fits."""
    fits = [name for name, b in baselines.items()
            if not b.config.get("scale_true_reward") and set(b.knobs) <= set(run.knobs)]
    return max(fits, key=lambda name: len(baselines[name].knobs), default=None)


def load_runs(results: Path) -> list[Run]:
    runs = []
    for d in sorted((Path(results) / "runs").iterdir()):
        if not (d / "config.json").exists():
            continue
        metrics_file = d / "metrics.jsonl"
        metrics = [json.loads(x) for x in metrics_file.read_text().splitlines() if x.strip()] if metrics_file.exists() else []
        summary = json.loads((d / "summary.json").read_text()) if (d / "summary.json").exists() else None
        runs.append(Run(d.name, json.loads((d / "config.json").read_text()), metrics, summary))
    return runs


def mean_ci(values: list[float]) -> tuple[float, float]:
    """Mean and half-width of the 95% t-interval (nan half-width for one value)."""
    x = np.asarray(values, dtype=float)
    if len(x) < 2:
        return float(x.mean()) if len(x) else math.nan, math.nan
    return float(x.mean()), float(T_95.get(len(x) - 1, 1.96) * x.std(ddof=1) / math.sqrt(len(x)))


BOOTSTRAP_RESAMPLES = 10_000


def pct_resamples(finals: list[float], reference: list[float], initials: list[float],
                  rng: np.random.Generator, n: int = BOOTSTRAP_RESAMPLES) -> np.ndarray:
    """``n`` bootstrap draws of 100 (R - R0) / (R_true - R0): the seeds of each of the three groups
    (the preference runs' finals, the reference baseline's finals, the own baseline's first
    evaluations) resampled with replacement, each draw's means put in the formula; a draw whose
    baseline gained nothing is nan."""
    def means(values):
        x = np.asarray(values, dtype=float)
        return x[rng.integers(0, len(x), size=(n, len(x)))].mean(axis=1)
    r, r_true, r0 = means(finals), means(reference), means(initials)
    gain = r_true - r0
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(gain > 0, 100 * (r - r0) / gain, np.nan)


def percentile_interval(draws: np.ndarray) -> list[float]:
    """The 2.5th and 97.5th percentiles of the defined draws ([nan, nan] if none is)."""
    draws = draws[np.isfinite(draws)]
    return [float(x) for x in np.percentile(draws, [2.5, 97.5])] if len(draws) else [math.nan, math.nan]


def group_pct_resamples(stats: dict[str, Any], summary: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
    """:func:`pct_resamples` of a preference group of ``summary`` (``stats``), against the baselines
    its % was taken against (``true_reward_baseline`` for R_true, ``r0_baseline`` for R0)."""
    return pct_resamples(stats["final_true_return_per_seed"],
                         summary[stats["true_reward_baseline"]]["final_true_return_per_seed"],
                         summary[stats["r0_baseline"]]["initial_true_return_per_seed"], rng)


def seed_range(text: str) -> list[int]:
    """``"4"`` -> [4]; ``"0-3"`` -> [0, 1, 2, 3]; ValueError if it is neither, or the range runs backwards."""
    first, sep, last = text.partition("-")
    if not sep:
        return [int(first)]
    seeds = list(range(int(first), int(last) + 1))
    if not seeds:
        raise ValueError(text)
    return seeds


def parse_seeds(text: str) -> list[int]:
    """``"0-3,7"`` -> [0, 1, 2, 3, 7]: comma-separated seeds or ranges of them; ValueError if not."""
    return [seed for part in text.split(",") if part.strip() for seed in seed_range(part.strip())]


def read_group(spec: str) -> tuple[Path, str, dict[str, Any], dict[str, Any]]:
    """``DIR::GROUP`` -> (DIR, GROUP, the group's stats, the folder's summary.json); a ValueError
    saying what to give when the spec, the file or the group is not there.

    ``DIR::GROUP::SEEDS`` (e.g. ``::14-25`` or ``::0,2,5-9``) reads the group on those of its seeds
    alone: the folder's runs summarised again with the group's other seeds left out, so its mean, %
    and interval are what a folder holding only those seeds of it (and the same baselines) gives."""
    folder, sep, rest = spec.partition("::")
    group, _, seed_text = rest.partition("::")
    if not sep or not group:
        raise ValueError(f"{spec!r}: give DIR::GROUP, a results folder and a group name of its summary.json "
                         "(and ::SEEDS to read some of its seeds, e.g. ::14-25)")
    path = Path(folder) / "summary.json"
    if not path.is_file():
        raise ValueError(f"{path}: no such file; run python -m experiments.plot {folder} first")
    summary = json.loads(path.read_text())
    if group not in summary:
        raise ValueError(f"no group {group!r} in {path}; its groups are its top-level keys")
    if seed_text:
        try:
            seeds = set(parse_seeds(seed_text))
        except ValueError:
            seeds = set()
        if not seeds:
            raise ValueError(f"{spec!r}: after GROUP:: give seeds, comma-separated seeds or ranges (e.g. ::14-25)")
        if missing := sorted(seeds - set(summary[group]["seeds"])):
            raise ValueError(f"{group!r} in {path} has no seed {', '.join(map(str, missing))}; "
                             f"its seeds are {', '.join(map(str, sorted(summary[group]['seeds'])))}")
        runs = [run for run in load_runs(Path(folder))
                if run.group != group or run.config["seed"] in seeds]
        summary = summarise(runs)
    return Path(folder), group, summary[group], summary


def is_preference_group(stats: dict[str, Any]) -> bool:
    """A preference group of a summary with a % of true-reward RL (a baseline to be read against)."""
    return not stats["true_reward"] and "return_vs_true_reward_pct" in stats


def setting_of(group: str, env: str) -> str:
    """A group's name without its task: the setting that across_tasks reads over tasks."""
    return group.removeprefix(env + " ")


def group_rng(group: str, env: str) -> np.random.Generator:
    """The bootstrap's random stream for a group (its setting on its task): one of its own per setting
    and task, so draws are independent across tasks and a setting's interval does not move when other
    settings join the folder."""
    return np.random.default_rng([zlib.crc32(setting_of(group, env).encode()), zlib.crc32(env.encode())])


def initial_return(run: Run) -> float:
    """The run's first evaluation (after one chunk of RL: close to the initial policy); nan if none."""
    evals = [m["eval/true_return"] for m in run.metrics if isinstance(m.get("eval/true_return"), (int, float))]
    return float(evals[0]) if evals else math.nan


def logged(run: Run, key: str) -> list[float]:
    """The finite numbers the run logged under ``key`` in metrics.jsonl, in order."""
    return [m[key] for m in run.metrics if isinstance(m.get(key), (int, float)) and math.isfinite(m[key])]


def final_agreement(run: Run) -> float:
    """The last ``rm/agreement`` the run logged: the share of fresh pairs of the policy's own clips
    that r_hat orders as the true reward does; nan if it logged no finite one."""
    values = logged(run, "rm/agreement")
    return float(values[-1]) if values else math.nan


def new_label_accuracy(run: Run) -> float:
    """Mean over the run's batches of new labels after pretraining of r_hat's accuracy on the batch
    before fitting it (``rm/heldout_accuracy``): how often the teacher's answers to the queries the
    selector asked were ones r_hat already predicted. nan if it logged none."""
    values = logged(run, "rm/heldout_accuracy")
    return float(np.mean(values)) if values else math.nan


# Per-run readings of r_hat kept for each preference group (mean and per seed) where every seed has one:
# final_agreement, how well r_hat orders fresh pairs of the policy's own clips where the agent ends;
# new_label_accuracy, low where the selector asks what r_hat gets wrong, near 1 where it could have guessed.
R_HAT_READINGS = {"final_agreement": final_agreement, "new_label_accuracy": new_label_accuracy}


def summarise(runs: list[Run]) -> dict[str, Any]:
    """Per group: final true return (mean, 95% CI, per seed), wall time, and the ratio to the
    true-reward baseline of the same task (return and wall time).

    ``return_vs_true_reward_pct`` is normalised so that it does not depend on a constant in the
    reward (a height term ``height - h`` shifts every return by ``h`` x episode length, and
    returns can be negative): 100 * (R - R0) / (R_true - R0), with R0 the baseline's first
    evaluation (its policy after one chunk, close to the initial one). ``raw_return_ratio_pct`` is
    the plain 100 * R / R_true. Where a task has several baselines, PPO on the raw and on the
    standardised true reward (``scale_true_reward``) or with other RL settings (``obs_norm``,
    ``gsde_every``), the reference is the one with the higher final return (named in
    ``true_reward_baseline``), and the % of each is kept too; R0 and the wall-time ratio come from
    the run's own baseline, the raw one with its RL settings (``own_baseline``). Against a
    baseline whose final return is not above R0 (it learned nothing) the % is nan: undefined."""
    groups: dict[str, list[Run]] = defaultdict(list)
    for run in runs:
        if run.summary:
            groups[run.group].append(run)
    for group, members in groups.items():
        lengths: dict[int, str] = {}
        for r in members:
            lengths.setdefault(r.config["steps"], r.name)  # the first run of each length
        if len(lengths) > 1:
            raise ConfigError(f"group {group!r} mixes runs of {' and '.join(map(str, sorted(lengths)))} steps "
                              f"(e.g. {', '.join(sorted(lengths.values()))}); move one length's runs to another folder")
    # Each group keeps load_runs' folder-name order (seed 10 before seed 2), on purpose: the committed
    # readings' bootstrap intervals were drawn over the per-seed lists in that order, and another order
    # would redraw them (same distribution, other numbers). Pair seeds through "seeds", never by index.
    out = {}
    first = {group: members[0] for group, members in groups.items()}
    for group, members in sorted(groups.items()):
        finals = [r.summary["final_true_return"] for r in members]
        walls = [r.summary["wall_time"] for r in members]
        mean, ci = mean_ci(finals)
        out[group] = {
            "env": members[0].config["env"],
            "labels": 0 if members[0].config["true_reward"] else members[0].config["labels"],
            "true_reward": members[0].config["true_reward"],
            "seeds": [r.config["seed"] for r in members],
            "env_steps": members[0].summary["env_steps"],
            "final_true_return_mean": mean,
            "final_true_return_ci95": ci,
            "final_true_return_std": float(np.std(finals, ddof=1)) if len(finals) > 1 else math.nan,
            "final_true_return_per_seed": finals,
            # what the group's name says beside the task and budget: selector (preference runs) and
            # settings not at their defaults, as name=value (the figures' legends are made of these)
            "setting": members[0].setting,
            "wall_time_min_mean": float(np.mean(walls)) / 60,
            # CPU time (runs made before it was recorded have none): independent of other load
            **({"cpu_time_min_mean": float(np.mean([r.summary["cpu_time"] for r in members])) / 60}
               if all("cpu_time" in r.summary for r in members) else {}),
            # the CPU model each seed ran on (None: made before runs recorded it): a seed's number
            # reproduces only on the model that made it (experiments/results/cpu_paths)
            "cpu_per_seed": [r.summary.get("provenance", {}).get("cpu") for r in members],
            "initial_true_return_mean": float(np.mean([initial_return(r) for r in members])),
            "initial_true_return_per_seed": [initial_return(r) for r in members],
        }
        if all("final_upside_down" in r.summary for r in members):
            # planar bodies: share of the final evaluation's steps spent upside down, per seed
            out[group]["final_upside_down_per_seed"] = [r.summary["final_upside_down"] for r in members]
        for name, read in R_HAT_READINGS.items():
            values = [read(r) for r in members]
            if not members[0].config["true_reward"] and not any(math.isnan(v) for v in values):
                out[group][f"{name}_mean"] = float(np.mean(values))
                out[group][f"{name}_per_seed"] = values
        shares = [r.summary.get("preference_loop_cpu_share") for r in members]
        if all(share is not None for share in shares):
            # the run's own CPU split (``CpuClock.breakdown``): the loop's parts over the
            # whole, and the overhead they make over the same RL without them, whatever the machine
            out[group]["preference_loop_cpu_share_mean"] = float(np.mean(shares))
            out[group]["cpu_overhead_from_parts"] = float(np.mean([1 / (1 - share) for share in shares]))
    for group, stats in out.items():
        if stats["true_reward"]:
            continue
        names = [n for n, s in out.items() if s["true_reward"] and s["env"] == stats["env"]]
        if not names:
            continue
        # the run's own baseline first (the same RL settings); R0: its first evaluation where there is
        # one (they all start from the same policy)
        own = own_baseline(first[group], {n: first[n] for n in names})
        names = [own, *(n for n in names if n != own)] if own else names
        r0 = out[names[0]]["initial_true_return_mean"]
        # a baseline that ended no higher than it started has no gain to take a share of: nan
        pct = {n: 100 * (stats["final_true_return_mean"] - r0) / gain if (gain := out[n]["final_true_return_mean"] - r0) > 0
               else math.nan for n in names}
        best = max(names, key=lambda n: out[n]["final_true_return_mean"])
        stats["true_reward_baseline"] = best
        stats["r0_baseline"] = names[0]
        stats["return_vs_true_reward_pct"] = pct[best]
        # how far the seeds leave that %: a percentile bootstrap over the seeds of the three groups
        stats["return_vs_true_reward_pct_ci95"] = percentile_interval(
            group_pct_resamples(stats, out, np.random.default_rng(0)))
        if len(names) > 1:
            stats["return_vs_each_true_reward_pct"] = pct
        stats["raw_return_ratio_pct"] = 100 * stats["final_true_return_mean"] / out[best]["final_true_return_mean"]
        # the loop's overhead: against PPO on the plain true reward with the run's own RL settings
        stats["wall_time_vs_true_reward"] = stats["wall_time_min_mean"] / out[names[0]]["wall_time_min_mean"]
        if "cpu_time_min_mean" in stats and "cpu_time_min_mean" in out[names[0]]:
            stats["cpu_time_vs_true_reward"] = stats["cpu_time_min_mean"] / out[names[0]]["cpu_time_min_mean"]
    return out


def across_tasks(summary: dict[str, Any]) -> dict[str, Any]:
    """The issue's targets read per setting over tasks: for every preference group, the same
    setting (labels, selector and knobs) on each task that has a % of true-reward RL, and the mean
    of those %s with the mean wall-time and CPU-time ratios (CPU time is the process's own,
    untouched by other jobs on the machine). Keyed by the group name without the task; a task
    whose % is undefined (its baseline learned nothing) is listed in ``undefined`` and left out of
    the mean. ``mean_pct_ci95``: a 95% percentile-bootstrap interval of that mean, each task's seeds
    (preference runs and baselines) resampled independently; with 3-5 seeds a task it is, if
    anything, too narrow (the percentile bootstrap under-covers on small samples)."""
    out: dict[str, Any] = {}
    draws: dict[str, dict[str, np.ndarray]] = defaultdict(dict)
    for group, stats in sorted(summary.items()):
        if not is_preference_group(stats):
            continue
        setting = setting_of(group, stats["env"])
        row = out.setdefault(setting, {"labels": stats["labels"], "setting": stats["setting"], "pct_per_task": {},
                                       "seeds_per_task": {}, "baseline_per_task": {}, "wall_time_ratio_per_task": {},
                                       "cpu_time_ratio_per_task": {}, "undefined": []})
        pct = stats["return_vs_true_reward_pct"]
        if not math.isfinite(pct):
            row["undefined"].append(stats["env"])
            continue
        row["pct_per_task"][stats["env"]] = pct
        draws[setting][stats["env"]] = group_pct_resamples(stats, summary, group_rng(group, stats["env"]))
        row["seeds_per_task"][stats["env"]] = len(stats["seeds"])
        row["baseline_per_task"][stats["env"]] = stats["true_reward_baseline"]
        row["wall_time_ratio_per_task"][stats["env"]] = stats["wall_time_vs_true_reward"]
        if "cpu_time_vs_true_reward" in stats:
            row["cpu_time_ratio_per_task"][stats["env"]] = stats["cpu_time_vs_true_reward"]
    for row in out.values():
        for key, values in (("mean_pct", row["pct_per_task"]), ("mean_wall_time_ratio", row["wall_time_ratio_per_task"]),
                            ("mean_cpu_time_ratio", row["cpu_time_ratio_per_task"])):
            row[key] = float(np.mean(list(values.values()))) if values else math.nan
    for setting, row in out.items():
        tasks = draws[setting]
        row["mean_pct_ci95"] = (percentile_interval(np.mean(list(tasks.values()), axis=0)) if tasks
                                else [math.nan, math.nan])
    return out
