"""Is one group's final true return different from another's, given how much seeds vary?

    python -m experiments.compare "DIR::GROUP_A" "DIR::GROUP_B" [--success R] [--paired] [--curves] [--out FILE.json]

Each GROUP is any group of DIR/summary.json (written by ``python -m experiments.plot DIR``),
a preference arm or a true-reward baseline; the two may come from different folders;
``DIR::GROUP::SEEDS`` (e.g. ``::14-25``) reads a group on some of its seeds alone. On the
groups' final true returns per seed (independent samples) it reports:

- the difference of means A - B with a 95% percentile-bootstrap interval (each group's seeds
  resampled with replacement, 10,000 draws);
- a two-sided permutation test of that difference (how often the seeds shuffled between the
  groups give a difference at least as large): every split when there are at most 100,000,
  otherwise 100,000 random ones;
- the probability of improvement P(A > B): the chance that a seed of A ends higher than a seed
  of B (ties count half), with its bootstrap interval;
- the seeds a group it would take to tell a true difference of this size from noise (a two-sided
  5% test with 80% power, normal approximation with the pooled spread of the two groups): how far
  the comparison is from being decided;
- with ``--paired``, the same seed by seed on the seeds both groups ran (a seed fixes the initial
  policy and the environments' seeds in every arm, so the arms' results on a seed may go together):
  the mean of the per-seed differences, a sign-flip test, the share of seeds where A ends higher,
  and with ``--success`` McNemar's exact test;
- with ``--success R``: how many seeds of each end above R (e.g. 1000, a legged body that walks
  or hops) and Fisher's exact test of those counts;
- with ``--curves``: each group's periodic evaluations (``eval/true_return`` in the runs'
  metrics.jsonl) averaged over its seeds at every evaluation step they all reached, and with
  ``--success`` how many seeds were above R there: where two groups part during training.

The bootstrap and the random permutations draw from a stream fixed by the two groups' names, so a
comparison prints the same numbers each time. With 3-14 seeds a group and outcomes that split into
"finds a gait" and "does not", these intervals are wide; that is the point of reading them.
"""

from __future__ import annotations

import itertools
import json
import math
import sys
import zlib
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from prefrl import cli
from prefrl.results import BOOTSTRAP_RESAMPLES, load_runs, percentile_interval, read_group

MAX_EXACT_SPLITS = 100_000
# z of a two-sided 5% test plus z of 80% power, squared: the usual sample-size factor
POWER_FACTOR = (1.959964 + 0.841621) ** 2
RANDOM_PERMUTATIONS = 100_000


def _wins(diff: np.ndarray, axis: int | tuple[int, ...] | None = None) -> np.ndarray:
    """The share of differences above 0, ties counting half."""
    return ((diff > 0) + 0.5 * (diff == 0)).mean(axis=axis)


def prob_improvement(a: np.ndarray, b: np.ndarray) -> float:
    """P(a seed of A ends above a seed of B), ties counting half (the Mann-Whitney U over n_a n_b)."""
    return float(_wins(a[:, None] - b[None, :]))


def permutation_p(a: np.ndarray, b: np.ndarray, rng: np.random.Generator) -> tuple[float, str]:
    """Two-sided p of |mean(A) - mean(B)| under shuffles of the pooled seeds, and how it was got."""
    pooled = np.concatenate([a, b])
    n, k = len(pooled), len(a)
    observed = abs(a.mean() - b.mean())
    total = pooled.sum()
    # a tolerance, so that splits equal to the observed one up to rounding count as "as large"
    tol = 1e-9 * max(1.0, float(np.abs(pooled).max()))
    if math.comb(n, k) <= MAX_EXACT_SPLITS:
        sums = np.array([pooled[list(idx)].sum() for idx in itertools.combinations(range(n), k)])
        diffs = np.abs(sums / k - (total - sums) / (n - k))
        return float((diffs >= observed - tol).mean()), f"exact, {len(sums)} splits"
    orders = rng.permuted(np.tile(np.arange(n), (RANDOM_PERMUTATIONS, 1)), axis=1)
    sums = pooled[orders[:, :k]].sum(axis=1)
    diffs = np.abs(sums / k - (total - sums) / (n - k))
    # the observed split counts as one of the shuffles, so p is never 0
    return float(((diffs >= observed - tol).sum() + 1) / (RANDOM_PERMUTATIONS + 1)), \
        f"{RANDOM_PERMUTATIONS} random shuffles"


def _seeds_for(variance: float, difference: float) -> float | None:
    """Seeds (or pairs) for a two-sided 5% test to find a true ``difference`` 80% of the time, when
    one seed's contribution to the difference has this ``variance``; None if the difference is 0."""
    return None if difference == 0 else float(math.ceil(POWER_FACTOR * variance / difference ** 2))


def seeds_needed(a: np.ndarray, b: np.ndarray) -> float | None:
    """Seeds per group for a two-sided 5% test to find a true difference of means equal to the
    observed one 80% of the time, with the groups' pooled variance (None if the means are equal:
    no number of seeds would)."""
    pooled = ((len(a) - 1) * a.var(ddof=1) + (len(b) - 1) * b.var(ddof=1)) / (len(a) + len(b) - 2)
    return _seeds_for(2 * pooled, a.mean() - b.mean())


def fisher_exact_p(hits_a: int, n_a: int, hits_b: int, n_b: int) -> float:
    """Two-sided Fisher exact test of a 2x2 table (hits and misses of A and B): the total
    probability of the tables with the same margins no more likely than the observed one."""
    hits = hits_a + hits_b
    total = math.comb(n_a + n_b, hits)

    def prob(x: int) -> float:
        return math.comb(n_a, x) * math.comb(n_b, hits - x) / total

    observed = prob(hits_a)
    support = range(max(0, hits - n_b), min(n_a, hits) + 1)
    return float(min(1.0, sum(p for x in support if (p := prob(x)) <= observed * (1 + 1e-7))))


def sign_flip_p(d: np.ndarray, rng: np.random.Generator) -> tuple[float, str]:
    """Two-sided p of |mean(d)| for per-seed differences under random signs (the paired test)."""
    n = len(d)
    observed = abs(d.mean())
    tol = 1e-9 * max(1.0, float(np.abs(d).max()))
    if 2 ** n <= MAX_EXACT_SPLITS:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=n)))
        return float((np.abs(signs @ d / n) >= observed - tol).mean()), f"exact, {len(signs)} sign flips"
    signs = rng.choice((1.0, -1.0), size=(RANDOM_PERMUTATIONS, n))
    return float(((np.abs(signs @ d / n) >= observed - tol).sum() + 1) / (RANDOM_PERMUTATIONS + 1)), \
        f"{RANDOM_PERMUTATIONS} random sign flips"


def mcnemar_exact_p(a_only: int, b_only: int) -> float:
    """Two-sided exact McNemar test: of the seeds where one arm succeeded and the other did not,
    how unlikely a split this uneven is under a fair coin."""
    n = a_only + b_only
    tail = sum(math.comb(n, x) for x in range(min(a_only, b_only) + 1)) / 2 ** n
    return float(min(1.0, 2 * tail))


def _unpaired(a: np.ndarray, b: np.ndarray, rng: np.random.Generator) -> dict[str, Any]:
    draws_a = a[rng.integers(0, len(a), size=(BOOTSTRAP_RESAMPLES, len(a)))]
    draws_b = b[rng.integers(0, len(b), size=(BOOTSTRAP_RESAMPLES, len(b)))]
    improvement = _wins(draws_a[:, :, None] - draws_b[:, None, :], axis=(1, 2))
    p, how = permutation_p(a, b, rng)
    return {"mean_difference": float(a.mean() - b.mean()),
            "mean_difference_ci95": percentile_interval(draws_a.mean(axis=1) - draws_b.mean(axis=1)),
            "permutation_p": p, "permutation": how,
            "prob_improvement": prob_improvement(a, b), "prob_improvement_ci95": percentile_interval(improvement),
            "seeds_needed_80pct_power": seeds_needed(a, b)}


def _paired(d: np.ndarray, rng: np.random.Generator) -> dict[str, Any]:
    """On per-seed differences A - B: their mean, the share of seeds where A ends higher (ties half),
    bootstrap over seeds, the sign-flip test, and seeds needed with the differences' own spread."""
    draws = d[rng.integers(0, len(d), size=(BOOTSTRAP_RESAMPLES, len(d)))]
    p, how = sign_flip_p(d, rng)
    return {"mean_difference": float(d.mean()), "mean_difference_ci95": percentile_interval(draws.mean(axis=1)),
            "permutation_p": p, "permutation": how,
            "prob_improvement": float(_wins(d)), "prob_improvement_ci95": percentile_interval(_wins(draws, axis=1)),
            "seeds_needed_80pct_power": _seeds_for(d.var(ddof=1), d.mean())}


LATE_SHARE = 0.6  # --curves: evaluations from this share of a run's steps on count as late


def eval_curve(folder: Path, group: str, seeds: list[int], success: float | None) -> dict[str, Any]:
    """The group's periodic evaluations averaged over ``seeds`` at the steps every one of them reached,
    and how much each run's evaluations move about late in training (their std within the run from
    LATE_SHARE of the last step on; a policy that keeps improving also moves, so read it beside the
    curve)."""
    runs = [run for run in load_runs(folder) if run.group == group and run.config["seed"] in seeds]
    evals = [{m["env_steps"]: m["eval/true_return"] for m in run.metrics
              if isinstance(m.get("eval/true_return"), (int, float))} for run in runs]
    if len(runs) != len(seeds) or not all(evals):
        raise ValueError(f"--curves: {folder}/runs lacks the metrics of some seeds of {group!r}; "
                         "leave --curves out to compare the final returns alone")
    steps = sorted(set.intersection(*(set(e) for e in evals)))
    values = np.array([[e[step] for step in steps] for e in evals])
    curve: dict[str, Any] = {"env_steps": steps, "mean": values.mean(axis=0).tolist()}
    if success is not None:
        curve["above"] = (values > success).sum(axis=0).tolist()
    late = [i for i, step in enumerate(steps) if step >= LATE_SHARE * steps[-1]]
    spread = values[:, late].std(axis=1)
    curve |= {"late_from": steps[late[0]], "late_spread_per_seed": spread.tolist(), "late_spread": float(spread.mean())}
    return curve


def cpus_of(folder: Path, group: str, stats: dict[str, Any], seeds: list[int]) -> dict[str, int]:
    """How many of ``seeds`` of a group ran on each CPU model: from the folder's summary.json, or
    where it predates ``cpu_per_seed`` from the runs' own summaries ("unrecorded": a run made
    before runs named their CPU, or not in the folder)."""
    if "cpu_per_seed" in stats:
        per_seed = dict(zip(stats["seeds"], stats["cpu_per_seed"], strict=True))
    else:
        per_seed = {run.config["seed"]: run.summary.get("provenance", {}).get("cpu")
                    for run in (load_runs(folder) if (folder / "runs").is_dir() else [])
                    if run.group == group and run.summary}
    return dict(Counter(per_seed.get(seed) or "unrecorded" for seed in seeds))


def compare(spec_a: str, spec_b: str, success: float | None = None, paired: bool = False,
            curves: bool = False) -> dict[str, Any]:
    groups = [read_group(spec) for spec in (spec_a, spec_b)]
    (folder_a, name_a, stats_a, _), (folder_b, name_b, stats_b, _) = groups
    if (folder_a.resolve(), name_a) == (folder_b.resolve(), name_b):
        # one group read on two seed filters (GROUP::14-19 against GROUP::20-23) is two samples, if they share no seed
        shared = sorted(set(stats_a["seeds"]) & set(stats_b["seeds"]))
        if shared:
            raise ValueError(f"{spec_a!r} is compared with itself (seeds {shared} in both); give two different "
                             "groups, or one group on seeds that do not overlap, e.g. GROUP::0-6 and GROUP::7-13")
    if stats_a["env"] != stats_b["env"]:
        raise ValueError(f"{name_a!r} is {stats_a['env']} and {name_b!r} is {stats_b['env']}: "
                         "returns of different tasks are not comparable; give two groups of one task")
    seeds = [stats["seeds"] for _, _, stats, _ in groups]
    a, b = (np.asarray(stats["final_true_return_per_seed"], dtype=float) for _, _, stats, _ in groups)
    if paired:
        per_seed = [dict(zip(stats["seeds"], stats["final_true_return_per_seed"], strict=True))
                    for _, _, stats, _ in groups]
        common = sorted(set(per_seed[0]) & set(per_seed[1]))
        if len(common) < 2:
            raise ValueError(f"--paired needs at least 2 seeds run in both groups (common seeds: {common}); "
                             "leave it out to compare them as independent samples")
        seeds = [common, common]
        a, b = (np.array([values[seed] for seed in common], dtype=float) for values in per_seed)
    cpus = [cpus_of(folder, name, stats, group_seeds)
            for (folder, name, stats, _), group_seeds in zip(groups, seeds, strict=True)]
    if len(a) < 2 or len(b) < 2:
        raise ValueError("each group needs at least 2 seeds to say anything about seed noise "
                         f"({name_a!r}: {len(a)}, {name_b!r}: {len(b)})")
    rng = np.random.default_rng([zlib.crc32(name_a.encode()), zlib.crc32(name_b.encode()), int(paired)])
    result: dict[str, Any] = {
        "env": stats_a["env"], "paired": paired,
        "groups": [{"results": str(folder), "group": name, "seeds": group_seeds,
                    "final_true_return_per_seed": values.tolist(), "mean": float(values.mean()), "cpus": group_cpus}
                   for (folder, name, _, _), group_seeds, values, group_cpus in zip(groups, seeds, (a, b), cpus,
                                                                                    strict=True)],
        **(_paired(a - b, rng) if paired else _unpaired(a, b, rng)),
    }
    if success is not None:
        hits_a, hits_b = int((a > success).sum()), int((b > success).sum())
        result["success"] = {"threshold": success, "above": [hits_a, hits_b], "seeds": [len(a), len(b)]}
        if paired:
            result["success"]["mcnemar_p"] = mcnemar_exact_p(int(((a > success) & (b <= success)).sum()),
                                                             int(((b > success) & (a <= success)).sum()))
        else:
            result["success"]["fisher_p"] = fisher_exact_p(hits_a, len(a), hits_b, len(b))
    if curves:
        for entry, (folder, name, _, _) in zip(result["groups"], groups, strict=True):
            entry["eval_curve"] = eval_curve(folder, name, entry["seeds"], success)
    return result


def report(result: dict[str, Any]) -> str:
    a, b = result["groups"]
    paired = result["paired"]
    lines = [f"A: {a['group']} ({a['results']}): mean {a['mean']:.0f} over {len(a['seeds'])} seeds",
             f"B: {b['group']} ({b['results']}): mean {b['mean']:.0f} over {len(b['seeds'])} seeds"]
    if paired:
        lines.append(f"paired on the seeds both ran: {', '.join(str(seed) for seed in a['seeds'])}")
    if len(a["cpus"]) > 1 or a["cpus"] != b["cpus"]:
        lines.append("CPU models (a seed's number reproduces only on the one that made it): " + "; ".join(
            f"{label}: " + ", ".join(f"{n} {cpu}" for cpu, n in group["cpus"].items())
            for label, group in zip("AB", (a, b), strict=True)))
    low, high = result["mean_difference_ci95"]
    lines.append(f"A - B = {result['mean_difference']:.0f} [{low:.0f}, {high:.0f}]; "
                 f"{'sign-flip' if paired else 'permutation'} p = {result['permutation_p']:.3f} "
                 f"({result['permutation']})")
    low, high = result["prob_improvement_ci95"]
    lines.append(f"{'share of seeds where A > B' if paired else 'P(A > B)'} = "
                 f"{result['prob_improvement']:.2f} [{low:.2f}, {high:.2f}]")
    lines.append(f"seeds {'(pairs)' if paired else 'a group'} to tell a true difference this size from noise "
                 "(5% test, 80% power): " + (f"~{needed:.0f}" if (needed := result["seeds_needed_80pct_power"])
                                             is not None else "none would (the means are equal)"))
    if "success" in result:
        s = result["success"]
        test = f"McNemar p = {s['mcnemar_p']:.3f}" if paired else f"Fisher p = {s['fisher_p']:.3f}"
        lines.append(f"above {s['threshold']:g}: {s['above'][0]} of {s['seeds'][0]} against "
                     f"{s['above'][1]} of {s['seeds'][1]}; {test}")
    for label, group in zip("AB", result["groups"], strict=True):
        if "eval_curve" in group:
            curve = group["eval_curve"]
            lines.append(f"{label}, mean evaluation return by env steps: " + ", ".join(
                f"{step // 1000}k {value:.0f}" + (f" ({above})" if "above" in curve else "")
                for step, value, above in zip(curve["env_steps"], curve["mean"],
                                              curve.get("above", curve["mean"]), strict=True)))
    for label, group in zip("AB", result["groups"], strict=True):
        if "eval_curve" in group:
            curve = group["eval_curve"]
            lines.append(f"{label}, spread of a run's evaluations from {curve['late_from'] // 1000}k steps on (std "
                         f"within the run, mean over seeds): {curve['late_spread']:.0f}")
    if any("above" in group.get("eval_curve", {}) for group in result["groups"]):
        lines.append(f"(in brackets: seeds above {result['success']['threshold']:g} there)")
    verdict = "distinguishable" if result["permutation_p"] < 0.05 else "not distinguishable"
    lines.append(f"the difference of means is {verdict} from seed noise at the 5% level")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = cli.new_parser("python -m experiments.compare", __doc__)
    parser.add_argument("a", help="DIR::GROUP, the first group")
    parser.add_argument("b", help="DIR::GROUP, the group it is compared with")
    parser.add_argument("--success", type=float, help="also count the seeds ending above this return")
    parser.add_argument("--paired", action="store_true",
                        help="compare seed by seed on the seeds both groups ran (a seed fixes the initial policy "
                             "and the environments' seeds in every arm)")
    parser.add_argument("--curves", action="store_true",
                        help="also average each group's periodic evaluations over its seeds (needs DIR/runs/)")
    parser.add_argument("--out", type=Path, help="also write the result to this JSON file (must not exist; its folder is made)")
    args = parser.parse_args(argv)
    cli.claim_out(args.out)
    try:
        result = compare(args.a, args.b, args.success, args.paired, args.curves)
    except ValueError as e:
        cli.fail(str(e))
    print(report(result))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
