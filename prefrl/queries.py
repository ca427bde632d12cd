"""Queries: which pairs of segments to ask the teacher about, and when.

Selectors (§2.2.4, App. A): ``uniform`` picks random pairs; ``disagreement`` oversamples
candidate pairs (~10x) and keeps those whose predicted preference varies most across the
reward ensemble's members. The paper found the latter sometimes hurts; both stay available.

Schedule (App. A.1, MuJoCo): 25% of the label budget from the initial policy before RL, then a
labelling rate proportional to 2e6 / (T + 2e6) at T environment steps, the budget used by the end.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from prefrl.teachers import Choice

SELECTORS = ("uniform", "disagreement")


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
    member_logits: Callable[[np.ndarray, np.ndarray], np.ndarray],
    candidate_features: tuple[np.ndarray, np.ndarray],
    rng: np.random.Generator,
) -> np.ndarray:
    """Indices of the ``n`` candidate pairs to ask about.

    candidate_features: (left, right), each (C, T, D). member_logits(left, right) -> (M, C),
    each member's logit that left is preferred. Uniform selection never calls it.
    """
    c = len(candidate_features[0])
    if selector == "uniform":
        return rng.choice(c, size=min(n, c), replace=False)
    if selector == "disagreement":
        probs = 1.0 / (1.0 + np.exp(-member_logits(*candidate_features)))  # (M, C)
        return np.argsort(-probs.var(axis=0), kind="stable")[:n]
    raise ValueError(f"unknown query selector {selector!r}; known: {', '.join(SELECTORS)}")
