"""The label store: one SQLite file per run holding segments, queries, labelers and labels.

Every label is committed the moment it is given (WAL journal, synchronous=FULL), so a run
killed at any point resumes with every label it had. The trainer and the labelling page share
the file; each opens its own connection.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from prefrl.queries import Query
from prefrl.segments import Segment
from prefrl.teachers import Choice

RECENT_SEGMENTS = 256
"""Segments this connection added lately, kept in memory too: the teacher and the trainer read
each new query's pair back at once, and decompressing it from the file each time cost ~2% of a run."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS segments (
    id INTEGER PRIMARY KEY,
    env_steps INTEGER NOT NULL,
    length INTEGER NOT NULL,
    data BLOB NOT NULL            -- npz: obs, actions, true_reward, qpos, qvel, fact_*
);
CREATE TABLE IF NOT EXISTS queries (
    id INTEGER PRIMARY KEY,
    left_id INTEGER NOT NULL REFERENCES segments(id),
    right_id INTEGER NOT NULL REFERENCES segments(id),
    env_steps INTEGER NOT NULL,
    selector TEXT NOT NULL,
    gold TEXT,                    -- known answer of a gold query, else NULL
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS labelers (
    name TEXT PRIMARY KEY,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS labels (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused, so an undone label's id stays unique
    query_id INTEGER NOT NULL REFERENCES queries(id),
    labeler TEXT NOT NULL REFERENCES labelers(name),
    choice TEXT NOT NULL CHECK (choice IN ('left', 'right', 'equal', 'skip')),
    created REAL NOT NULL,
    UNIQUE (query_id, labeler)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS owners (           -- which policy of a population asked a query
    query_id INTEGER PRIMARY KEY REFERENCES queries(id),
    member INTEGER NOT NULL
);
"""


@dataclass(frozen=True)
class Label:
    id: int
    query_id: int
    labeler: str
    choice: Choice
    created: float


class LabelStore:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        with self._db:
            self._db.executescript(_SCHEMA)
        self._recent: OrderedDict[int, Segment] = OrderedDict()

    def close(self) -> None:
        self._db.close()

    def _write(self, sql: str, args: tuple = ()) -> int:
        with self._lock, self._db:
            return self._db.execute(sql, args).lastrowid

    def _read(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    # segments and queries
    def add_segment(self, segment: Segment) -> int:
        segment_id = self._write(
            "INSERT INTO segments (env_steps, length, data) VALUES (?, ?, ?)",
            (segment.env_steps, segment.length, segment.to_npz()),
        )
        with self._lock:
            self._recent[segment_id] = segment
            if len(self._recent) > RECENT_SEGMENTS:
                self._recent.popitem(last=False)
        return segment_id

    def segment(self, segment_id: int) -> Segment:
        with self._lock:
            if segment_id in self._recent:
                return self._recent[segment_id]
        rows = self._read("SELECT data FROM segments WHERE id = ?", (segment_id,))
        if not rows:
            raise KeyError(f"no segment {segment_id} in {self.path}")
        return Segment.from_npz(rows[0][0])

    def add_query(self, left: Segment, right: Segment, env_steps: int, selector: str,
                  gold: Choice | None = None, member: int | None = None) -> Query:
        """A new query on a new pair of segments; ``member``: the policy of a population that
        asked it (its clips), kept in ``owners``."""
        left_id, right_id = self.add_segment(left), self.add_segment(right)
        created = time.time()
        with self._lock, self._db:
            qid = self._db.execute(
                "INSERT INTO queries (left_id, right_id, env_steps, selector, gold, created) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (left_id, right_id, env_steps, selector, gold and gold.value, created),
            ).lastrowid
            if member is not None:
                self._db.execute("INSERT INTO owners (query_id, member) VALUES (?, ?)", (qid, member))
        return Query(qid, left_id, right_id, env_steps, selector, gold, created)

    def owners(self) -> dict[int, int]:
        """The population member that asked each query that has one, by query id."""
        return dict(self._read("SELECT query_id, member FROM owners"))

    def query(self, query_id: int) -> Query:
        rows = self._read(f"SELECT {Query.COLUMNS} FROM queries WHERE id = ?", (query_id,))
        if not rows:
            raise KeyError(f"no query {query_id} in {self.path}")
        return Query.from_row(rows[0])

    def queries(self) -> list[Query]:
        return [Query.from_row(r) for r in self._read(f"SELECT {Query.COLUMNS} FROM queries ORDER BY id")]

    def unlabelled_queries(self) -> list[Query]:
        rows = self._read(
            f"SELECT {Query.COLUMNS} FROM queries WHERE id NOT IN (SELECT query_id FROM labels) ORDER BY id"
        )
        return [Query.from_row(r) for r in rows]

    # labels
    def add_label(self, query_id: int, labeler: str, choice: Choice | str) -> Label:
        """Commit one answer. Raises KeyError for an unknown query, ValueError for a bad choice
        and sqlite3.IntegrityError if this labeler already answered this query."""
        choice = Choice(choice)
        self.query(query_id)
        created = time.time()
        with self._lock, self._db:
            self._db.execute("INSERT OR IGNORE INTO labelers (name, created) VALUES (?, ?)",
                             (labeler, created))
            lid = self._db.execute(
                "INSERT INTO labels (query_id, labeler, choice, created) VALUES (?, ?, ?, ?)",
                (query_id, labeler, choice.value, created),
            ).lastrowid
        return Label(lid, query_id, labeler, choice, created)

    def delete_label(self, label_id: int) -> None:
        self._write("DELETE FROM labels WHERE id = ?", (label_id,))

    def last_label(self, labeler: str) -> Label | None:
        """The most recent answer of ``labeler`` (what an undo removes), or None."""
        rows = self._read("SELECT id, query_id, labeler, choice, created FROM labels WHERE labeler = ? "
                          "ORDER BY id DESC LIMIT 1", (labeler,))
        return Label(*rows[0][:3], Choice(rows[0][3]), rows[0][4]) if rows else None

    def label_records(self) -> list[dict]:
        """Every label with its query, oldest first, as plain values (one JSONL line each)."""
        rows = self._read(
            "SELECT l.id, l.query_id, l.labeler, l.choice, l.created, q.left_id, q.right_id, q.env_steps, "
            "q.selector, q.gold FROM labels l JOIN queries q ON q.id = l.query_id ORDER BY l.id"
        )
        keys = ("label_id", "query_id", "labeler", "choice", "created", "left_segment", "right_segment",
                "env_steps", "selector", "gold")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def labels(self) -> list[Label]:
        rows = self._read("SELECT id, query_id, labeler, choice, created FROM labels ORDER BY id")
        return [Label(i, q, who, Choice(c), t) for i, q, who, c, t in rows]

    def answered(self) -> Iterator[tuple[Query, Label]]:
        """Every answer with its query, skips included, oldest first."""
        queries = {q.id: q for q in self.queries()}
        for label in self.labels():
            yield queries[label.query_id], label

    def training_labels(self) -> Iterator[tuple[Query, Label]]:
        """Decisive or equal answers (skips excluded), oldest first."""
        return ((q, label) for q, label in self.answered() if label.choice.target is not None)

    def count_labels(self) -> int:
        """Answered queries: each counts as one label (one bit at most), skips included."""
        return self._read("SELECT COUNT(DISTINCT query_id) FROM labels")[0][0]

    # run metadata
    def get_meta(self, key: str) -> str | None:
        rows = self._read("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def set_meta(self, key: str, value: str) -> None:
        self._write("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))
