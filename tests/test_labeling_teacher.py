"""``--teacher human``: a real (tiny) training run whose labels come from the page over HTTP.

The page runs in its own process, as for ``python -m experiments.mujoco --teacher human``; a
scripted "person" labels through the JSON API while the trainer waits for the pretraining share
and then trains on.
"""

import threading
import time

import httpx

from experiments.label import start_page
from prefrl.config import RunConfig
from prefrl.store import LabelStore
from prefrl.trainer import PreferenceRun

TINY = dict(env="Hopper", labels=16, steps=512, n_envs=1, pretrain_steps=1000, chunk_steps=256,
            segment_seconds=0.4, fit_steps_initial=20, fit_steps=5, eval_every=10**6, eval_episodes=1,
            final_eval_episodes=1, selector="uniform", teacher="human")


def label_until(stop: threading.Event, base_url: str, given: list) -> None:
    """A person who always prefers the clip on the left, as fast as pairs appear."""
    with httpx.Client(base_url=base_url, timeout=10) as c:
        while not stop.is_set():
            state = c.get("/api/next", params={"labeler": "ann"}).json()
            if state["query"] is None:
                time.sleep(0.1)
                continue
            r = c.post("/api/label", json={"query_id": state["query"]["id"], "labeler": "ann", "choice": "left"})
            if r.status_code == 200:
                given.append(state["query"]["id"])


def test_training_waits_for_pretraining_labels_from_the_page(tmp_path):
    config = RunConfig(**TINY)
    path = tmp_path / "run"
    teacher = start_page(config, path, port=0)
    assert teacher.name == "human" and teacher.url.startswith("http://127.0.0.1:")
    stop, given = threading.Event(), []
    person = threading.Thread(target=label_until, args=(stop, teacher.url, given), daemon=True)
    person.start()
    try:
        summary = PreferenceRun(config, path, teacher=teacher).run()
    finally:
        stop.set()
        person.join(10)
        teacher.close()
    assert teacher.process.poll() is not None  # the page is gone with the run
    store = LabelStore(path / "labels.sqlite")
    labels = store.labels()
    queries = {q.id: q for q in store.queries()}
    store.close()
    assert summary["labels"] >= 4 and summary["env_steps"] >= 512
    assert sorted(lab.query_id for lab in labels) == sorted(given)  # every saved answer is in the store
    assert sum(queries[lab.query_id].env_steps == 0 for lab in labels) >= 4  # the pretraining share
    assert (path / "clips").is_dir() and any((path / "clips").glob("*.gif"))
