"""The labelling API over HTTP: a real uvicorn server, a real SQLite store, real MuJoCo clips."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from experiments import label
from prefrl import cli, run_dir
from prefrl.config import RunConfig
from prefrl.labeling import LabelServer, PageConfig, add_gold_queries
from prefrl.labeling.gold import GOLD_SELECTOR
from prefrl.segments import Segment
from prefrl.store import LabelStore
from prefrl.teachers import Choice
from tests.test_render import hopper_segment

ROOT = Path(__file__).resolve().parents[1]
SEGMENTS = [hopper_segment(20, seed) for seed in range(6)]  # 4 clip frames each: quick to render


def make_run(path: Path, queries: int = 3, labels: int = 16) -> Path:
    """A run directory as the trainer leaves it: config.json and ``queries`` unlabelled queries."""
    run_dir.prepare(path, RunConfig(env="Hopper", labels=labels, steps=1000))
    store = LabelStore(path / "labels.sqlite")
    for i in range(queries):
        store.add_query(SEGMENTS[(2 * i) % 6], SEGMENTS[(2 * i + 1) % 6], 0, "uniform")
    store.close()
    return path


def wait_for_pair(client: httpx.Client, labeler: str, timeout: float = 20.0) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        state = client.get("/api/next", params={"labeler": labeler}).json()
        if state["query"]:
            return state
        time.sleep(0.1)
    raise AssertionError(f"no pair for {labeler} in {timeout} s: {state['message']}")


def wait_rendered(server: LabelServer, timeout: float = 20.0) -> None:
    deadline = time.time() + timeout
    while server.app.worker.todo():
        assert time.time() < deadline, "clips not rendered in time"
        time.sleep(0.05)


def stored(path: Path) -> list[tuple[int, str, str]]:
    store = LabelStore(path / "labels.sqlite")
    out = [(lab.query_id, lab.labeler, lab.choice.value) for lab in store.labels()]
    store.close()
    return out


@pytest.fixture
def page(tmp_path):
    path = make_run(tmp_path / "run")
    with LabelServer(PageConfig.from_run(path, gold=0), port=0) as server:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            yield path, server, client


def test_label_undo_and_bad_input(page):
    path, _, client = page
    state = wait_for_pair(client, "ann")
    qid = state["query"]["id"]
    assert state["given"] == 0 and state["wanted"] == 16 and state["pretrain"] == 4
    gif = client.get(state["query"]["left"])
    assert gif.status_code == 200 and gif.content[:6] == b"GIF89a"

    r = client.post("/api/label", json={"query_id": qid, "labeler": "ann", "choice": "left"})
    assert r.status_code == 200 and r.json()["saved"]["query_id"] == qid
    assert r.json()["given"] == 1 and r.json()["mine"] == 1
    double = client.post("/api/label", json={"query_id": qid, "labeler": "ann", "choice": "left"})
    assert double.status_code == 409 and "already labelled by ann" in double.json()["detail"]
    bad = [
        ({"query_id": 999, "labeler": "ann", "choice": "left"}, 404, "unknown query 999"),
        ({"query_id": qid, "labeler": "ann", "choice": "up"}, 422, "choice"),
        ({"query_id": "x", "labeler": "ann", "choice": "left"}, 422, "query_id"),
        ({"query_id": qid, "labeler": "../etc", "choice": "left"}, 422, "labeler"),
        ({"query_id": qid, "labeler": "ann", "choice": "left", "extra": 1}, 422, "extra"),
        ({"labeler": "ann", "choice": "left"}, 422, "query_id"),
    ]
    for body, code, words in bad:
        r = client.post("/api/label", json=body)
        assert r.status_code == code and words in r.json()["detail"], (body, r.text)
        assert "\n" not in r.json()["detail"]
    assert client.post("/api/label", content=b"{not json", headers={"content-type": "application/json"}
                       ).status_code == 422
    assert stored(path) == [(qid, "ann", "left")]

    undone = client.post("/api/undo", json={"labeler": "ann"}).json()
    assert undone["undone"]["query_id"] == qid and undone["query"]["id"] == qid  # shown again
    assert stored(path) == []
    assert client.post("/api/undo", json={"labeler": "ann"}).status_code == 404
    r = client.post("/api/label", json={"query_id": qid, "labeler": "ann", "choice": "right"})
    assert r.status_code == 200 and stored(path) == [(qid, "ann", "right")]
    store = LabelStore(path / "labels.sqlite")
    assert store.labels()[0].id == 2  # a relabelled query gets a new label id: the trainer tells them apart
    store.close()


def test_waiting_page_says_what_it_waits_for(tmp_path):
    path = make_run(tmp_path / "run", queries=0)
    with LabelServer(PageConfig.from_run(path, gold=0), port=0) as server, httpx.Client(base_url=server.url) as c:
        state = c.get("/api/next", params={"labeler": "ann"}).json()
        assert state["query"] is None and "waiting for the trainer's first queries" in state["message"]
        store = LabelStore(path / "labels.sqlite")
        store.add_query(SEGMENTS[0], SEGMENTS[1], 0, "uniform")
        messages = []
        for _ in range(200):
            state = c.get("/api/next", params={"labeler": "ann"}).json()
            if state["query"]:
                break
            messages.append(state["message"])
            time.sleep(0.02)
        assert state["query"] is not None
        assert any(m.startswith("rendering clips: pretraining segments") for m in messages), messages
        c.post("/api/label", json={"query_id": state["query"]["id"], "labeler": "ann", "choice": "equal"})
        state = c.get("/api/next", params={"labeler": "ann"}).json()
        assert "waiting for the trainer to ask more pretraining queries (1/4" in state["message"]
        store.close()


def test_each_query_goes_to_one_labeler(page):
    path, server, client = page
    wait_rendered(server)
    ann, bob = wait_for_pair(client, "ann"), wait_for_pair(client, "bob")
    assert ann["query"]["id"] != bob["query"]["id"]
    again = client.get("/api/next", params={"labeler": "ann"}).json()
    assert again["query"] == ann["query"]  # a reload shows the same pair
    assert again["upcoming"]["id"] not in (ann["query"]["id"], bob["query"]["id"])  # the pair to preload
    ok = client.post("/api/label", json={"query_id": ann["query"]["id"], "labeler": "ann", "choice": "left"})
    assert ok.status_code == 200
    taken = client.post("/api/label", json={"query_id": ann["query"]["id"], "labeler": "bob", "choice": "right"})
    assert taken.status_code == 409 and "redundancy 1" in taken.json()["detail"]
    assert stored(path) == [(ann["query"]["id"], "ann", "left")]


def test_redundancy_gold_accuracy_agreement_and_export(tmp_path, rng):
    path = make_run(tmp_path / "run", queries=2)
    store = LabelStore(path / "labels.sqlite")
    # gold: the clip with the larger true return is better
    gold = add_gold_queries(store, SEGMENTS, lambda a, b, r: Choice.LEFT if a.true_return > b.true_return
                            else Choice.RIGHT, 1, rng)
    assert len(gold) == 1 and gold[0].selector == GOLD_SELECTOR
    with LabelServer(PageConfig.from_run(path, redundancy=2, gold=0, gold_every=1), port=0) as server, \
            httpx.Client(base_url=server.url) as c:
        wait_rendered(server)
        answers = {"ann": [], "bob": []}
        for who in ("ann", "bob"):
            for _ in range(3):
                q = wait_for_pair(c, who)["query"]
                is_gold = q["id"] == gold[0].id
                choice = gold[0].gold.value if (is_gold and who == "ann") else ("left" if who == "ann" else "right")
                if is_gold and who == "bob":
                    choice = "left" if gold[0].gold == Choice.RIGHT else "right"  # bob gets gold wrong
                assert c.post("/api/label", json={"query_id": q["id"], "labeler": who, "choice": choice}
                              ).status_code == 200
                answers[who].append(q["id"])
        assert sorted(answers["ann"]) == sorted(answers["bob"]) == [1, 2, gold[0].id]  # each saw all three
        assert answers["ann"][1] == gold[0].id  # gold mixed in after one regular label
        stats = c.get("/api/stats").json()
        by_name = {s["name"]: s for s in stats["labelers"]}
        assert by_name["ann"]["gold_accuracy"] == 1.0 and by_name["bob"]["gold_accuracy"] == 0.0
        assert stats["agreement"]["queries_with_several_answers"] == 3
        assert stats["agreement"]["all_agreed"] == 0
        assert stats["agreement"]["pairs"] == [{"labelers": ["ann", "bob"], "shared": 3, "agreed": 0, "rate": 0.0}]
        lines = [json.loads(x) for x in c.get("/api/labels.jsonl").text.splitlines()]
        assert len(lines) == 6 and {x["labeler"] for x in lines} == {"ann", "bob"}
        assert sum(x["gold"] is not None for x in lines) == 2
        assert "Agreement" in c.get("/stats").text
    store.close()


def test_clips_route_serves_only_this_runs_clips(page):
    path, _, client = page
    wait_for_pair(client, "ann")
    (path / "clips" / "999.gif").write_bytes(b"GIF89a not a segment of this run")
    for url in ("/clips/999.gif", "/clips/..%2Fconfig.json", "/clips/../config.json", "/clips/1.gif.bak",
                "/clips/%2e%2e%2flabels.sqlite", "/clips/0001.gif", "/clips/labels.sqlite"):
        r = client.get(url)
        assert r.status_code == 404 and b"GIF" not in r.content and b"SQLite" not in r.content, url


def test_any_other_address_needs_the_token(tmp_path):
    path = make_run(tmp_path / "run")
    with LabelServer(PageConfig.from_run(path, gold=0), host="0.0.0.0", port=0) as server:
        token = server.app.config.token
        assert token and len(token) >= 20 and server.url.endswith(f":{server.port}/?token={token}")
        base = f"http://127.0.0.1:{server.port}"
        for route in ("/", "/api/next?labeler=ann", "/api/stats", "/api/labels.jsonl", "/clips/1.gif"):
            assert httpx.get(base + route).status_code == 401
            assert httpx.get(base + route, headers={"X-Token": "wrong"}).status_code == 401
        assert httpx.post(base + "/api/label", json={"query_id": 1, "labeler": "a", "choice": "left"}
                          ).status_code == 401
        assert httpx.get(base + "/api/stats", headers={"X-Token": token}).status_code == 200
        assert httpx.get(base + f"/?token={token}").status_code == 200
    assert stored(path) == []


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    """``python -m experiments.label ARGV`` in-process: exit code, stdout, stderr."""
    with pytest.raises(SystemExit) as exit_:
        cli.main_guard(lambda: label.main(argv))()
    out = capsys.readouterr()
    return exit_.value.code, out.out, out.err


def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    run = str(make_run(tmp_path / "run"))
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "config.json").write_text('{"env": "Hopper", "labels": 0, "true_reward": true}')
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text("{not json")
    with LabelServer(PageConfig.from_run(run, gold=0), port=0) as busy:
        for argv, words in (([str(tmp_path / "nope")], "not a run directory (no config.json)"),
                            ([str(tmp_path / "base")], "true-reward baseline run"),
                            ([str(tmp_path / "broken")], "is not valid JSON"),
                            ([run, "--redundancy", "0"], "redundancy must be >= 1"),
                            ([run, "--port", "70000"], "--port must be 0..65535"),
                            ([run, "--clip-size", "4"], "clip size must be 16..1024 px"),
                            ([run, "--gold", "-1"], "gold must be >= 0"),
                            ([run, "--port", str(busy.port)], f"cannot listen on 127.0.0.1:{busy.port}"),
                            ([run, "--port", "x"], "invalid int value"),
                            ([run, "--export", str(tmp_path / "no" / "dir.jsonl")], "cannot write")):
            code, _, err = run_cli(argv, capsys)
            assert code == 2 and words in err and len(err.strip().splitlines()) == 1, (argv, err)
    assert stored(Path(run)) == []


def test_cli_export_jsonl(tmp_path, capsys):
    path = make_run(tmp_path / "run")
    store = LabelStore(path / "labels.sqlite")
    store.add_label(1, "ann", "left")
    store.add_label(2, "bob", "skip")
    store.close()
    code, out, _ = run_cli([str(path), "--export", "-"], capsys)
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0
    assert [(x["query_id"], x["labeler"], x["choice"]) for x in rows] == [(1, "ann", "left"), (2, "bob", "skip")]
    assert run_cli([str(path), "--export", str(tmp_path / "labels.jsonl")], capsys)[0] == 0
    assert (tmp_path / "labels.jsonl").read_text() == out


def test_kill_9_loses_no_saved_label(tmp_path):
    """Every label the page answered 200 for is in the store after kill -9 and a restart."""
    path = make_run(tmp_path / "run", queries=6)
    from prefrl.labeling.server import check_port

    port = check_port("127.0.0.1", 0)
    proc = subprocess.Popen([sys.executable, "-m", "experiments.label", str(path), "--port", str(port)],
                            cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert f"http://127.0.0.1:{port}/" in proc.stdout.readline()  # the URL, printed once ready
        saved = []
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as c:
            for choice in ("left", "right", "equal", "skip"):
                q = wait_for_pair(c, "ann")["query"]
                r = c.post("/api/label", json={"query_id": q["id"], "labeler": "ann", "choice": choice})
                assert r.status_code == 200
                saved.append((q["id"], "ann", choice))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        proc.kill()
    assert stored(path) == saved
    with LabelServer(PageConfig.from_run(path, gold=0), port=0) as server, httpx.Client(base_url=server.url) as c:
        state = wait_for_pair(c, "ann")
        assert state["given"] == 4 and state["mine"] == 4 and state["query"]["id"] not in [s[0] for s in saved]


def test_gold_queries_are_added_once_from_the_runs_oracle(tmp_path):
    path = make_run(tmp_path / "run", queries=4)
    with LabelServer(PageConfig.from_run(path, gold=2), port=0) as server:
        deadline = time.time() + 20
        while server.app.store.get_meta("gold_added") is None and time.time() < deadline:
            time.sleep(0.1)
        gold = [q for q in server.app.store.queries() if q.gold is not None]
        assert len(gold) == 2
        for q in gold:  # the clearly better clip has the larger true return (the run's oracle score)
            left, right = server.app.store.segment(q.left_id), server.app.store.segment(q.right_id)
            assert (left.true_return > right.true_return) == (q.gold == Choice.LEFT)
    with LabelServer(PageConfig.from_run(path, gold=2), port=0) as server:
        time.sleep(1.0)
        assert sum(q.gold is not None for q in server.app.store.queries()) == 2  # not again on restart


def test_segments_of_another_size_do_not_stop_the_others(tmp_path):
    path = make_run(tmp_path / "run", queries=0)
    store = LabelStore(path / "labels.sqlite")
    s = SEGMENTS[0]
    broken = Segment(s.obs, s.actions, s.true_reward, np.zeros((len(s.obs), 3)), s.qvel)
    store.add_query(broken, SEGMENTS[1], 0, "uniform")
    store.add_query(SEGMENTS[2], SEGMENTS[3], 0, "uniform")
    store.close()
    with LabelServer(PageConfig.from_run(path, gold=0), port=0) as server, httpx.Client(base_url=server.url) as c:
        assert wait_for_pair(c, "ann")["query"]["id"] == 2
        c.post("/api/label", json={"query_id": 2, "labeler": "ann", "choice": "left"})
        message = c.get("/api/next", params={"labeler": "ann"}).json()["message"]
        assert message.startswith("segment 1 could not be rendered: segment state has qpos (3,)"), message
