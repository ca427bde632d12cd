"""The teacher: whoever answers a query. A scripted oracle or a person both fit :class:`Teacher`.

The paper's four answers (§2.2.2): left is better, right is better, equally good, or can't
compare. ``equal`` trains toward (0.5, 0.5); ``skip`` is recorded but is not a training label.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from prefrl.queries import Query
    from prefrl.segments import Segment
    from prefrl.store import LabelStore


class Choice(StrEnum):
    LEFT = "left"
    RIGHT = "right"
    EQUAL = "equal"
    SKIP = "skip"

    @property
    def target(self) -> float | None:
        """Probability that left is preferred, or None when this is not a training label."""
        return {"left": 1.0, "right": 0.0, "equal": 0.5}.get(self.value)


class Teacher(Protocol):
    name: str

    def request(self, queries: Sequence[Query], store: LabelStore) -> None:
        """Ask for labels. An oracle answers at once into ``store``; a person answers later."""


class Judge(Protocol):
    """A scripted judgement of one query from recorded segments (see ``synthetic_oracle``)."""

    def __call__(self, left: Segment, right: Segment, rng: np.random.Generator) -> Choice: ...


class OracleTeacher:
    """A synthetic teacher: a judge answering every query as soon as it is asked."""

    def __init__(self, judge: Judge, rng: np.random.Generator, name: str = "oracle"):
        self.judge, self.rng, self.name = judge, rng, name

    def request(self, queries: Sequence[Query], store: LabelStore) -> None:
        for q in queries:
            left, right = store.segment(q.left_id), store.segment(q.right_id)
            store.add_label(q.id, self.name, self.judge(left, right, self.rng))
