"""Choosing the policy a backflip run hands over, among the ones it evaluated (experiments.backflip).

At every evaluation the run keeps the policy and its evaluation episodes' reward-model inputs
and oracle scores (a snapshot, :func:`save_snapshot`). At the end either the run's own final
reward model rates every snapshot by the r_hat return of its episodes and the best is kept (no
label, :func:`rate_snapshots`, :func:`best_snapshot`), or, with ``--select-labels K`` kept from the
label budget, the teacher chooses among the K + 1 that r_hat rates highest by comparing one clip of
each in turn (:func:`teacher_choice`): K comparisons, counted as labels, the reward model learning
from the rest (:func:`training_config`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from prefrl.config import MIN_PRETRAIN_LABELS, ConfigError, RunConfig
from prefrl.queries import pretrain_labels
from prefrl.segments import Segment
from prefrl.teachers import Choice, Judge
from synthetic_oracle.backflip import FlipCount, count_flips

SNAPSHOTS = "snapshots"  # the run directory's folder of policies and evaluation episodes, by env step


def save_snapshot(agent, episodes: list[Segment], directory: Path, reward_obs: Sequence[int] | None) -> int:
    """The policy (``<steps>.zip``) and the reward-model inputs and oracle scores of its evaluation
    ``episodes`` (``<steps>.npz``) under ``directory``; returns the step count it is filed under."""
    steps = agent.num_timesteps
    directory.mkdir(exist_ok=True)
    agent.save(directory / f"{steps}.zip")
    with open(directory / f"{steps}.npz", "wb") as f:
        np.savez(f, features=np.stack([e.features(reward_obs) for e in episodes]).astype(np.float32),
                 true_return=np.array([e.true_return for e in episodes]))
    return steps


def rate_snapshots(directory: Path, reward_model=None) -> dict[int, float]:
    """Each snapshot's mean return over its evaluation episodes, by env step: r_hat's return under
    ``reward_model``, or without one the oracle's score the episodes were recorded with."""
    rates = {}
    for f in sorted(directory.glob("*.npz"), key=lambda f: int(f.stem)):
        with np.load(f) as z:
            returns = z["true_return"] if reward_model is None else reward_model.segment_return(z["features"])
        rates[int(f.stem)] = float(np.mean(returns))
    return rates


def best_snapshot(rates: dict[int, float]) -> int:
    """The step of the best-rated snapshot; of equal ratings, the latest."""
    return shortlist(rates, 1)[0]


def rank_corr(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Spearman's rank correlation; None (null in JSON) with fewer than 3 values or a constant."""
    from scipy.stats import spearmanr

    if len(a) < 3 or len(set(a)) < 2 or len(set(b)) < 2:
        return None
    return float(spearmanr(a, b).statistic)


def shortlist(rates: dict[Any, float], n: int, tiebreak: Callable[[Any], Any] = lambda key: key) -> list[Any]:
    """The ``n`` best-rated snapshots, best first; of equal ratings the greater ``tiebreak(key)``
    first (by default the greater key: the later snapshot)."""
    return sorted(rates, key=lambda key: (rates[key], tiebreak(key)), reverse=True)[:n]


def teacher_choice(candidates: Sequence[Any], clip: Callable[[Any], Segment], judge: Judge,
                   rng: np.random.Generator, name: Callable[[Any], str] = str) -> tuple[Any, list[dict[str, Any]]]:
    """The teacher chooses among ``candidates`` (best-rated first), king of the hill: ``judge``
    compares a clip of the current choice with one of the next candidate (``clip(key)``: one
    episode of that policy, recorded once), and the one it prefers is kept; on an equal or skipped
    answer the current one stays. Takes ``len(candidates) - 1`` comparisons, each a label of the
    budget. Returns the chosen key and the comparisons made (both keys as ``name`` gives them, the
    answer, each clip's oracle score and clean backflips)."""
    clips: dict[Any, tuple[Segment, FlipCount]] = {}

    def shown(key) -> tuple[Segment, FlipCount]:
        if key not in clips:
            episode = clip(key)
            clips[key] = episode, count_flips(episode)
        return clips[key]

    chosen, comparisons = candidates[0], []
    for challenger in candidates[1:]:
        (left, left_count), (right, right_count) = shown(chosen), shown(challenger)
        answer = judge(left, right, rng)
        comparisons.append({"left": name(chosen), "right": name(challenger), "answer": answer.value,
                            "left_score": left.true_return, "right_score": right.true_return,
                            "left_flips": left_count.backflips, "right_flips": right_count.backflips})
        if answer == Choice.RIGHT:
            chosen = challenger
    return chosen, comparisons


def choose_snapshot(rates: dict[Any, float], select_labels: int, clip: Callable[[Any], Segment], config: RunConfig,
                    tiebreak: Callable[[Any], Any] = lambda key: key,
                    name: Callable[[Any], str] = str) -> tuple[Any, list[dict[str, Any]] | None]:
    """The snapshot a run hands over: the best-rated (no comparisons: None), or with ``select_labels``
    the teacher's choice (:func:`teacher_choice`, the synthetic oracle of ``config``) among the
    ``select_labels`` + 1 best-rated, with the comparisons it made. ``tiebreak`` as :func:`shortlist`'s."""
    order = shortlist(rates, select_labels + 1, tiebreak)
    if not select_labels:
        return order[0], None
    return teacher_choice(order, clip, config.oracle(), np.random.default_rng([config.seed, 2]), name)


def check_select_labels(config: RunConfig, select_labels: int) -> None:
    """Raise ConfigError for a ``--select-labels`` these settings cannot spend."""
    if select_labels < 0:
        raise ConfigError(f"--select-labels must be 0 or more, got {select_labels}")
    if select_labels and (config.true_reward or config.reward_model or config.teacher != "oracle"):
        raise ConfigError("--select-labels has the synthetic oracle choose the final policy from its budget: not "
                          "with --true-reward, --reward-model or --teacher human (drop --select-labels)")
    if select_labels >= config.labels:
        raise ConfigError(f"--select-labels {select_labels} leaves none of the {config.labels} labels for the "
                          f"reward model: use fewer, or raise --labels")
    left = config.labels - select_labels
    if select_labels and pretrain_labels(left, config.pretrain_share) < MIN_PRETRAIN_LABELS:
        need = math.ceil(MIN_PRETRAIN_LABELS / config.pretrain_share)
        raise ConfigError(f"--select-labels {select_labels} leaves {left} of the {config.labels} labels for the reward "
                          f"model, fewer before RL than the {MIN_PRETRAIN_LABELS} it needs: use --labels "
                          f"{select_labels + need} or more, or fewer --select-labels")


def training_config(config: RunConfig, select_labels: int) -> RunConfig:
    """The settings the reward model learns under: ``config``'s budget less the comparisons kept for
    the teacher's choice of policy (the run directory's config.json holds this budget)."""
    check_select_labels(config, select_labels)
    return dataclasses.replace(config, labels=config.labels - select_labels) if select_labels else config


def selection_record(labels: int, select_labels: int, comparisons: list[dict[str, Any]] | None) -> dict[str, Any]:
    """Summary entries of the labels and the choice of policy: ``labels`` the reward model learned
    from, plus the teacher's comparisons for the choice (they are labels of the budget too)."""
    if not select_labels:
        return {"labels": labels}
    return {"labels": labels + len(comparisons), "training_labels": labels, "select_labels": select_labels,
            "selection_comparisons": comparisons}


def chooser(select_labels: int) -> str | None:
    """Who chose the final policy, as the plot marks it (None: whoever rated the snapshots)."""
    return f"the teacher ({select_labels} comparisons among r_hat's top {select_labels + 1})" if select_labels else None
