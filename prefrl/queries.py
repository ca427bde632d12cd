"""Queries: which pairs of segments to ask the teacher about, and when.

Selectors (§2.2.4, App. A; B-Pref): ``uniform`` picks random pairs; the others oversample
candidate pairs (~10x) and keep the ``n`` best by their own measure:

* ``disagreement``: variance over the ensemble's members of the predicted preference (the paper's);
* ``entropy``: entropy of the ensemble's mean predicted preference (the most uncertain pairs);
* ``kcenter``: greedy k-center on the pairs' mean features: spread the queries over behaviours;
* ``optimistic``: pairs of the segments r_hat rates best, optimistically: each segment's predicted
  return plus its spread over the members (an upper confidence bound), summed over the pair. The
  labels land on the frontier of what the agent does (a partial take-off, the start of a new gait),
  where r_hat's ranking decides what the agent tries next, rather than on its typical clips.

The paper found active selection sometimes hurts; uniform stays available for comparison.

Schedule (App. A.1, MuJoCo): 25% of the label budget from the initial policy before RL, then a
labelling rate proportional to 2e6 / (T + 2e6) at T environment steps, the budget used by the end.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from prefrl.teachers import Choice

SELECTORS = ("uniform", "disagreement", "entropy", "kcenter", "optimistic")
ENSEMBLE_SELECTORS = ("disagreement",)  # need more than one member


@dataclass(frozen=True)
class Query:
    """One pair shown to a teacher."""

    id: int
    left_id: int
    right_id: int
    env_steps: int
    """Agent's environment steps when the query was made."""
    selector: str
    gold: Choice | None = None
    """Known answer of a gold query (mixed in to measure labelers), else None."""
    created: float = 0.0

    COLUMNS = "id, left_id, right_id, env_steps, selector, gold, created"

    @classmethod
    def from_row(cls, row: tuple) -> Query:
        qid, left, right, steps, selector, gold, created = row
        return cls(qid, left, right, steps, selector, gold and Choice(gold), created)


def pretrain_labels(budget: int, pretrain_fraction: float = 0.25) -> int:
    """Labels gathered from the initial policy before RL starts."""
    return math.ceil(pretrain_fraction * budget)


def labels_due(env_steps: int, total_steps: int, budget: int, pretrain_fraction: float = 0.25,
               horizon: float = 2e6) -> int:
    """Labels that should have been gathered by ``env_steps``.

    The rate after pretraining is proportional to horizon / (T + horizon); its integral up to T
    is horizon * log(1 + T / horizon), scaled so that the whole budget is used at total_steps.
    """
    pre = pretrain_labels(budget, pretrain_fraction)
    done = math.log1p(min(env_steps, total_steps) / horizon) / math.log1p(total_steps / horizon)
    return min(budget, pre + math.floor((budget - pre) * done + 1e-9))


def select_pairs(
    n: int,
    n_candidates: int,
    selector: str,
    member_returns: Callable[[np.ndarray], np.ndarray],
    candidate_features: tuple[np.ndarray, np.ndarray],
    rng: np.random.Generator,
) -> np.ndarray:
    """Indices of the ``n`` candidate pairs to ask about.

    candidate_features: (left, right), each (C, T, D). member_returns(segments) -> (M, C), each
    member's predicted return of each segment. Uniform and k-center selection never call it.
    """
    c = len(candidate_features[0])
    if selector == "uniform":
        return rng.choice(c, size=min(n, c), replace=False)
    if selector == "kcenter":
        left, right = candidate_features
        return k_center(np.concatenate([left.mean(axis=1), right.mean(axis=1)], axis=1), n, rng)
    if selector not in SELECTORS:
        raise ValueError(f"unknown query selector {selector!r}; known: {', '.join(SELECTORS)}")
    left, right = (member_returns(f) for f in candidate_features)  # (M, C) each
    if selector == "optimistic":
        score = left.mean(0) + left.std(0) + right.mean(0) + right.std(0)
    elif selector == "disagreement":
        score = sigmoid(left - right).var(axis=0)  # over the members' probabilities of "left"
    else:
        logits = np.asarray(left, dtype=np.float64) - right
        # p and 1 - p each averaged from its own sigmoid: no cancellation, so pairs the members are
        # nearly sure of (|logit| in the tens, usual for 60-step returns) still rank by their entropy
        p, q = sigmoid(logits).mean(axis=0), sigmoid(-logits).mean(axis=0)
        score = -(p * np.log(np.maximum(p, 1e-300)) + q * np.log(np.maximum(q, 1e-300)))
    return np.argsort(-score, kind="stable")[:n]


def sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)), without overflow for large |x|."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def k_center(points: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Greedy k-center: a random first point, then each time the point farthest from those
    chosen. points: (C, F), standardised per feature -> (min(n, C),) indices."""
    x = (points - points.mean(0)) / (points.std(0) + 1e-8)
    chosen = [int(rng.integers(len(x)))]
    dist = np.linalg.norm(x - x[chosen[0]], axis=1)
    while len(chosen) < min(n, len(x)):
        nxt = int(np.argmax(dist))
        chosen.append(nxt)
        dist = np.minimum(dist, np.linalg.norm(x - x[nxt], axis=1))
    return np.array(chosen)
