import sqlite3

import numpy as np
import pytest

from prefrl.segments import Segment
from prefrl.store import LabelStore
from prefrl.teachers import Choice


def seg(value: float, t: int = 5) -> Segment:
    return Segment(np.full((t, 3), value, np.float32), np.zeros((t, 1), np.float32), np.full(t, value),
                   np.zeros((t, 2)), np.zeros((t, 2)), facts={"height": np.arange(t, dtype=float)}, env_steps=7)


def test_segment_round_trips_through_sqlite(tmp_path):
    store = LabelStore(tmp_path / "labels.sqlite")
    q = store.add_query(seg(1.0), seg(2.0), env_steps=7, selector="uniform")
    # another connection reads the file; the one that added the segments also keeps them in memory
    for reader in (LabelStore(tmp_path / "labels.sqlite"), store):
        left = reader.segment(q.left_id)
        np.testing.assert_array_equal(left.obs, seg(1.0).obs)
        np.testing.assert_array_equal(left.facts["height"], np.arange(5))
        assert left.env_steps == 7 and reader.query(q.id) == q
    with pytest.raises(KeyError, match="no segment 99"):
        store.segment(99)


def test_recent_segments_in_memory_are_bounded_and_match_the_file(tmp_path, monkeypatch):
    monkeypatch.setattr("prefrl.store.RECENT_SEGMENTS", 4)
    store = LabelStore(tmp_path / "labels.sqlite")
    queries = [store.add_query(seg(float(i)), seg(-float(i)), 0, "uniform") for i in range(5)]
    assert len(store._recent) == 4
    fresh = LabelStore(tmp_path / "labels.sqlite")
    for q in queries:
        for sid, value in ((q.left_id, q.id - 1.0), (q.right_id, 1.0 - q.id)):
            np.testing.assert_array_equal(store.segment(sid).obs, fresh.segment(sid).obs)
            assert store.segment(sid).obs[0, 0] == value


def test_every_label_is_on_disk_when_add_label_returns(tmp_path):
    path = tmp_path / "labels.sqlite"
    store = LabelStore(path)
    q1 = store.add_query(seg(1.0), seg(2.0), 0, "uniform")
    q2 = store.add_query(seg(3.0), seg(2.0), 0, "uniform")
    store.add_label(q1.id, "ann", Choice.RIGHT)
    store.add_label(q2.id, "ann", "skip")
    # A second connection (another process would be the same) sees both without a close.
    other = sqlite3.connect(path)
    assert other.execute("SELECT query_id, choice FROM labels ORDER BY id").fetchall() == [(1, "right"), (2, "skip")]
    assert store.count_labels() == 2
    assert [lab.choice for _, lab in store.training_labels()] == [Choice.RIGHT]


def test_bad_labels_are_refused_and_nothing_is_stored_twice(tmp_path):
    store = LabelStore(tmp_path / "labels.sqlite")
    q = store.add_query(seg(1.0), seg(2.0), 0, "uniform")
    store.add_label(q.id, "ann", Choice.LEFT)
    with pytest.raises(sqlite3.IntegrityError):
        store.add_label(q.id, "ann", Choice.RIGHT)
    with pytest.raises(KeyError):
        store.add_label(999, "ann", Choice.LEFT)
    with pytest.raises(ValueError):
        store.add_label(q.id, "bob", "sideways")
    assert len(store.labels()) == 1
    store.add_label(q.id, "bob", Choice.RIGHT)  # a second person may answer the same query
    assert store.count_labels() == 1 and len(store.labels()) == 2
