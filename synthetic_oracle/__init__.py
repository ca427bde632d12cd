"""Scripted teachers: judge a query from recorded segments only (never from the live env)."""

from collections.abc import Callable

import numpy as np

from prefrl.segments import Segment
from synthetic_oracle.backflip import backflip_score
from synthetic_oracle.basic import ReturnOracle, true_reward

SCORES: dict[str, Callable[[Segment], np.ndarray]] = {"true_reward": true_reward, "backflip": backflip_score}
"""Per-step scores an oracle can judge by, selected with ``--oracle-score``; (T,) per segment."""

__all__ = ["SCORES", "ReturnOracle", "true_reward"]
