"""Gold queries: pairs with a clear answer from a synthetic oracle, mixed in to measure labelers.

People make systematic errors (they favour motion, miss a fall at the end of a clip). A few
pairs that a scripted judge answers the same way in both orders are stored with that answer
(``queries.gold``); each labeler sees each of them once, and their answers give the labeler's
accuracy (see :func:`prefrl.labeling.assign.labeler_stats`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from prefrl.queries import Query
from prefrl.segments import Segment
from prefrl.store import LabelStore
from prefrl.teachers import Choice, Judge

GOLD_SELECTOR = "gold"
_MIRROR = {Choice.LEFT: Choice.RIGHT, Choice.RIGHT: Choice.LEFT}


def clear_answer(judge: Judge, left: Segment, right: Segment, rng: np.random.Generator) -> Choice | None:
    """The judge's answer if it is decisive and the same with the clips swapped, else None."""
    a, b = judge(left, right, rng), judge(right, left, rng)
    return a if a in _MIRROR and _MIRROR[a] == b else None


def add_gold_queries(store: LabelStore, segments: Sequence[Segment], judge: Judge, n: int,
                     rng: np.random.Generator, tries_per_query: int = 20) -> list[Query]:
    """Add up to ``n`` gold queries made of pairs of ``segments`` with a clear answer.

    Returns the queries added (fewer than ``n`` when few pairs have a clear answer).
    """
    if len(segments) < 2 or n <= 0:
        return []
    added: list[Query] = []
    for _ in range(n * tries_per_query):
        if len(added) == n:
            break
        i, j = rng.choice(len(segments), size=2, replace=False)
        answer = clear_answer(judge, segments[i], segments[j], rng)
        if answer is not None:
            steps = max(segments[i].env_steps, segments[j].env_steps)
            added.append(store.add_query(segments[i], segments[j], steps, GOLD_SELECTOR, gold=answer))
    return added


def score_from_run(run_dir: Path) -> Callable[[Segment], np.ndarray] | None:
    """The per-step score of the oracle named in a run's config.json (None if unknown)."""
    from synthetic_oracle import SCORES

    try:
        saved = json.loads((Path(run_dir) / "config.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return SCORES.get(saved.get("oracle_score", "true_reward"))


def clear_judge(score: Callable[[Segment], np.ndarray], segments: Sequence[Segment],
                quantile: float = 0.5) -> Judge:
    """A rational oracle on ``score`` that calls pairs closer than the ``quantile`` of the
    segments' return differences equal, so that only clearly different pairs become gold."""
    from synthetic_oracle import ReturnOracle

    returns = np.array([float(score(s).sum()) for s in segments])
    gaps = np.abs(returns[:, None] - returns[None, :])[np.triu_indices(len(returns), 1)]
    return ReturnOracle(equal_threshold=float(np.quantile(gaps, quantile)) if len(gaps) else 0.0, score=score)


def ensure_gold(store: LabelStore, score: Callable[[Segment], np.ndarray] | None, n: int,
                rng: np.random.Generator, min_queries: int = 4) -> int:
    """Once per run: add ``n`` gold queries from the segments of the first regular queries.

    Waits (returns 0) until the trainer has asked ``min_queries`` queries. Returns how many
    were added; the run's meta key ``gold_added`` records that it was done.
    """
    if score is None or n <= 0 or store.get_meta("gold_added") is not None:
        return 0
    regular = [q for q in store.queries() if q.gold is None]
    if len(regular) < max(min_queries, 2):
        return 0
    segments = [store.segment(sid) for q in regular for sid in (q.left_id, q.right_id)]
    added = add_gold_queries(store, segments, clear_judge(score, segments), n, rng)
    store.set_meta("gold_added", str(len(added)))
    return len(added)
