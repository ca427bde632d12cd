"""Scripted teachers: judge a query from recorded segments only (never from the live env)."""

from collections.abc import Callable

import numpy as np

from prefrl.segments import Segment
from synthetic_oracle.backflip import backflip_score
from synthetic_oracle.basic import ReturnOracle, height_biased, true_reward
from synthetic_oracle.grasp import scores as grasp_scores

SCORES: dict[str, Callable[[Segment], np.ndarray]] = {
    "true_reward": true_reward,
    "height_biased": height_biased,
    "backflip": backflip_score,
}
"""Per-step scores an oracle can judge by, selected with ``--oracle-score``; (T,) per segment."""
SCORES |= grasp_scores()  # grasp_full, grasp_camera, grasp_mitigated

__all__ = ["SCORES", "ReturnOracle", "true_reward"]
