"""The basic synthetic oracle: prefer the segment with the larger true return.

With B-Pref's simulated-teacher knobs (Lee et al. 2021), each off by default:

* ``skip_threshold``: if neither segment's return exceeds it, answer ``skip`` (can't tell).
* ``equal_threshold``: if the returns differ by at most this, answer ``equal`` (0 = exact ties).
* ``gamma`` (myopic): weigh step t of T by gamma**(T-1-t); the end of a clip counts more.
* ``beta`` (Boltzmann rationality): P(left) = sigmoid(beta * (R_left - R_right)); inf = always
  the larger.
* ``epsilon`` (mistakes): flip a decisive answer with this probability.

Skip and equal are decided on undiscounted returns, the preference on (myopic) returns, as in
B-Pref. The per-step score is ``true_reward`` by default; task oracles (e.g. the backflip score)
plug in another scorer of recorded facts.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from prefrl.segments import Segment
from prefrl.teachers import Choice


def true_reward(segment: Segment) -> np.ndarray:
    """The environment's per-step reward, as recorded. (T,)"""
    return segment.true_reward


HEIGHT_BIAS = 2.0  # extra score per step and metre of torso height, for the biased teacher


def height_biased(segment: Segment) -> np.ndarray:
    """A systematically biased teacher: the true reward plus a liking for a tall torso, a
    feature people see at a glance (needs ``facts["height"]``). (T,)"""
    if "height" not in segment.facts:
        raise ValueError("the height-biased teacher needs info['height']; this task does not report it")
    return segment.true_reward + HEIGHT_BIAS * segment.facts["height"]


def myopic_return(scores: np.ndarray, gamma: float) -> float:
    """sum_t gamma**(T-1-t) * score_t. (T,) -> scalar"""
    weights = gamma ** np.arange(len(scores) - 1, -1, -1, dtype=np.float64)
    return float(np.dot(weights, scores))


@dataclass(frozen=True)
class ReturnOracle:
    beta: float = math.inf
    gamma: float = 1.0
    epsilon: float = 0.0
    skip_threshold: float = -math.inf
    equal_threshold: float = 0.0
    score: Callable[[Segment], np.ndarray] = true_reward
    """Per-step score of a recorded segment: (T,)."""

    def __post_init__(self):
        if not (self.beta > 0 and 0 < self.gamma <= 1 and 0 <= self.epsilon <= 1 and self.equal_threshold >= 0):
            raise ValueError(
                f"oracle knobs out of range: beta={self.beta} (> 0), gamma={self.gamma} (0, 1], "
                f"epsilon={self.epsilon} [0, 1], equal_threshold={self.equal_threshold} (>= 0)"
            )

    def __call__(self, left: Segment, right: Segment, rng: np.random.Generator) -> Choice:
        s_left, s_right = self.score(left), self.score(right)
        r_left, r_right = float(s_left.sum()), float(s_right.sum())
        if max(r_left, r_right) <= self.skip_threshold:
            return Choice.SKIP
        if abs(r_left - r_right) <= self.equal_threshold:
            return Choice.EQUAL
        diff = myopic_return(s_left, self.gamma) - myopic_return(s_right, self.gamma)
        if math.isinf(self.beta):
            if diff == 0:
                return Choice.EQUAL
            left_wins = diff > 0
        else:
            p_left = 1.0 / (1.0 + math.exp(-min(max(self.beta * diff, -700.0), 700.0)))
            left_wins = rng.random() < p_left
        if self.epsilon > 0 and rng.random() < self.epsilon:
            left_wins = not left_wins
        return Choice.LEFT if left_wins else Choice.RIGHT
