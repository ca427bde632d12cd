"""Who labels what: handing queries to several labelers, and how well they agree.

A regular query goes to ``redundancy`` people (1 by default): a labeler gets the oldest query
whose clips are rendered, that they have not answered, and that has fewer than ``redundancy``
answers plus leases held by others. A lease keeps a shown pair for its labeler for
``LEASE_SECONDS``, so two people never label the same query by accident.

Gold queries (a clear answer known from a synthetic oracle) go to every labeler, one after each
``gold_every`` regular answers, to measure each labeler's accuracy.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import combinations

from prefrl.queries import Query
from prefrl.store import Label
from prefrl.teachers import Choice

LEASE_SECONDS = 300.0


@dataclass
class Leases:
    """Query shown to each labeler and until when it is held for them (in memory)."""

    seconds: float = LEASE_SECONDS
    held: dict[str, tuple[int, float]] = field(default_factory=dict)  # labeler -> (query id, expiry)

    def give(self, labeler: str, query_id: int, now: float | None = None) -> None:
        self.held[labeler] = (query_id, (now or time.time()) + self.seconds)

    def drop(self, labeler: str) -> None:
        self.held.pop(labeler, None)

    def current(self, labeler: str, now: float | None = None) -> int | None:
        qid, expiry = self.held.get(labeler, (None, 0.0))
        return qid if expiry > (now or time.time()) else None

    def others(self, labeler: str, now: float | None = None) -> Counter[int]:
        """Query id -> how many other labelers hold it."""
        now = now or time.time()
        return Counter(q for who, (q, exp) in self.held.items() if who != labeler and exp > now)


def needs_labels(query: Query, answers: int, redundancy: int) -> bool:
    """Whether a query still wants answers (gold queries always want one more labeler)."""
    return query.gold is not None or answers < redundancy


def next_query(labeler: str, queries: Iterable[Query], labels: Iterable[Label], ready: Callable[[Query], bool],
               leases: Leases, redundancy: int = 1, gold_every: int = 10, exclude: int | None = None
               ) -> Query | None:
    """The query to show ``labeler`` next, or None when none is ready for them."""
    queries = list(queries)
    answers: Counter[int] = Counter()
    mine: set[int] = set()
    for lab in labels:
        answers[lab.query_id] += 1
        if lab.labeler == labeler:
            mine.add(lab.query_id)
    held = leases.others(labeler)
    open_gold = [q for q in queries if q.gold is not None and q.id not in mine and q.id != exclude and ready(q)]
    gold_done = sum(1 for q in queries if q.gold is not None and q.id in mine)
    if open_gold and gold_done * gold_every < len(mine) - gold_done:
        return open_gold[0]
    for q in queries:
        if (q.gold is None and q.id not in mine and q.id != exclude
                and answers[q.id] + held[q.id] < redundancy and ready(q)):
            return q
    return None


@dataclass(frozen=True)
class LabelerStats:
    name: str
    labels: int
    choices: dict[str, int]
    gold_answered: int
    gold_correct: int
    gold_skipped: int

    @property
    def gold_accuracy(self) -> float | None:
        """Right answers over decisive-or-equal answers to gold queries (skips left out)."""
        judged = self.gold_answered - self.gold_skipped
        return self.gold_correct / judged if judged else None

    def to_dict(self) -> dict:
        return {"name": self.name, "labels": self.labels, "choices": self.choices,
                "gold_answered": self.gold_answered, "gold_correct": self.gold_correct,
                "gold_skipped": self.gold_skipped, "gold_accuracy": self.gold_accuracy}


def labeler_stats(queries: Iterable[Query], labels: Iterable[Label]) -> list[LabelerStats]:
    gold = {q.id: q.gold for q in queries if q.gold is not None}
    by_labeler: dict[str, list[Label]] = defaultdict(list)
    for lab in labels:
        by_labeler[lab.labeler].append(lab)
    out = []
    for name, labs in sorted(by_labeler.items()):
        on_gold = [lab for lab in labs if lab.query_id in gold]
        out.append(LabelerStats(
            name=name,
            labels=len(labs),
            choices=dict(Counter(lab.choice.value for lab in labs)),
            gold_answered=len(on_gold),
            gold_correct=sum(lab.choice == gold[lab.query_id] for lab in on_gold),
            gold_skipped=sum(lab.choice == Choice.SKIP for lab in on_gold),
        ))
    return out


def agreement(labels: Iterable[Label]) -> dict:
    """Agreement on queries answered by two or more labelers, overall and per pair of labelers."""
    by_query: dict[int, dict[str, Choice]] = defaultdict(dict)
    for lab in labels:
        by_query[lab.query_id][lab.labeler] = lab.choice
    shared = {q: a for q, a in by_query.items() if len(a) >= 2}
    agreed = sum(len(set(a.values())) == 1 for a in shared.values())
    pairs: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for answers in shared.values():
        for a, b in combinations(sorted(answers), 2):
            pairs[a, b][0] += 1
            pairs[a, b][1] += answers[a] == answers[b]
    return {
        "queries_with_several_answers": len(shared),
        "all_agreed": agreed,
        "rate": agreed / len(shared) if shared else None,
        "pairs": [{"labelers": [a, b], "shared": n, "agreed": k, "rate": k / n} for (a, b), (n, k) in
                  sorted(pairs.items())],
    }
