"""The labelling web app (FastAPI): the page, its JSON API and the run's clips.

Routes (all check the token when one is set: ``?token=`` or header ``X-Token``):

* ``GET /``: the page; ``GET /stats``: labelers, gold accuracy, agreement.
* ``GET /api/next?labeler=NAME``: the pair to show, or what the page waits for.
* ``POST /api/label`` ``{"query_id", "labeler", "choice"}``: commit one answer (left, right,
  equal, skip); replies only after the label is on disk, with the next pair.
* ``POST /api/undo`` ``{"labeler"}``: remove that labeler's last label and show its pair again.
* ``GET /api/stats``, ``GET /api/labels.jsonl`` (every label, one JSON object a line).
* ``GET /clips/<segment id>.gif``: a rendered clip of a query of this run, nothing else.

Errors are 4xx with ``{"detail": "one line"}``: 404 unknown query, 409 already answered (a double
click) or already labelled by others, 422 malformed body, 401 bad token.
"""

from __future__ import annotations

import json
import re
import secrets
import sqlite3
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np
from fastapi import FastAPI, HTTPException, Request
from fastapi import Query as Param
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from prefrl.labeling import assign, gold, page
from prefrl.labeling.worker import Clips, RenderWorker
from prefrl.queries import Query, pretrain_labels
from prefrl.store import LabelStore

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$"


@dataclass(frozen=True)
class PageConfig:
    """What the page needs to know about a run; :meth:`from_run` reads its config.json."""

    run_dir: Path
    env: str
    """Task whose camera renders the clips."""
    budget: int
    """Labels the run wants in all."""
    pretrain: int
    """Labels the trainer waits for before RL starts."""
    redundancy: int = 1
    """Labelers per regular query."""
    gold: int = 5
    """Gold queries added once per run (0: none)."""
    gold_every: int = 10
    """Regular answers between two gold queries, per labeler."""
    clip_size: int = 128
    """Clip side in pixels."""
    token: str | None = None
    """Required on every request when set (the page must be bound beyond 127.0.0.1)."""
    seed: int = 0

    def __post_init__(self):
        for name in ("redundancy", "gold_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.gold < 0:
            raise ValueError(f"gold must be >= 0, got {self.gold}")
        if not 16 <= self.clip_size <= 1024:
            raise ValueError(f"clip size must be 16..1024 px, got {self.clip_size}")

    @classmethod
    def from_run(cls, run_dir: str | Path, **overrides) -> PageConfig:
        run_dir = Path(run_dir)
        cfg_file = run_dir / "config.json"
        try:
            saved = json.loads(cfg_file.read_text())
        except FileNotFoundError:
            raise ValueError(f"{run_dir} is not a run directory (no config.json); pass the --run-dir of a run") from None
        except json.JSONDecodeError as e:
            raise ValueError(f"{cfg_file} is not valid JSON ({e})") from e
        if saved.get("true_reward"):
            raise ValueError(f"{run_dir} is a true-reward baseline run; it asks for no labels")
        try:
            budget, fraction = int(saved["labels"]), float(saved.get("pretrain_fraction", 0.25))
            base = cls(run_dir, str(saved["env"]), budget, pretrain_labels(budget, fraction),
                       seed=int(saved.get("seed", 0)))
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{cfg_file} lacks a valid env/labels entry ({e})") from e
        return replace(base, **overrides)


class LabelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    query_id: int = Field(ge=1)
    labeler: str = Field(pattern=NAME_PATTERN)
    choice: Literal["left", "right", "equal", "skip"]


class UndoIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    labeler: str = Field(pattern=NAME_PATTERN)


class LabelingApp:
    """State shared by the routes: the store, clips, leases, the render worker."""

    def __init__(self, config: PageConfig, make_renderer=None):
        self.config = config
        self.store = LabelStore(Path(config.run_dir) / "labels.sqlite")
        self.clips = Clips(config.run_dir)
        self.leases = assign.Leases()
        self.lock = threading.Lock()
        self.rng = np.random.default_rng([config.seed, 5])
        self.gold_score = gold.score_from_run(config.run_dir)
        if make_renderer is None:
            from prefrl.render import ClipRenderer

            def make_renderer():
                return ClipRenderer(config.env, config.clip_size)
        self.worker = RenderWorker(self.store, self.clips, make_renderer, self.wanted, on_idle=self.add_gold)
        self.api = build_api(self)

    def start(self) -> None:
        self.worker.start()

    def close(self) -> None:
        self.worker.stop()
        self.store.close()

    def add_gold(self) -> None:
        gold.ensure_gold(self.store, self.gold_score, self.config.gold, self.rng, self.config.pretrain)

    def wanted(self) -> list[Query]:
        """Queries that still want an answer, oldest first."""
        answers: dict[int, int] = {}
        for lab in self.store.labels():
            answers[lab.query_id] = answers.get(lab.query_id, 0) + 1
        return [q for q in self.store.queries()
                if assign.needs_labels(q, answers.get(q.id, 0), self.config.redundancy)]

    # ------------------------------------------------------------------ what a labeler sees
    def state(self, labeler: str, **extra) -> dict:
        """The pair to show ``labeler`` (leased to them) and the counts; call under the lock."""
        queries, labels = self.store.queries(), self.store.labels()
        qid = self.leases.current(labeler)
        current = next((q for q in queries if q.id == qid), None)
        if current is None or any(lab.query_id == qid and lab.labeler == labeler for lab in labels):
            current = assign.next_query(labeler, queries, labels, self.clips.query_ready, self.leases,
                                        self.config.redundancy, self.config.gold_every)
        upcoming = None
        if current is not None:
            self.leases.give(labeler, current.id)
            upcoming = assign.next_query(labeler, queries, labels, self.clips.query_ready, self.leases,
                                         self.config.redundancy, self.config.gold_every, exclude=current.id)
        else:
            self.leases.drop(labeler)
        given = self.store.count_labels()
        return {
            "labeler": labeler,
            "query": _pair(current),
            "upcoming": _pair(upcoming),
            "message": "" if current else self.waiting_message(labeler, queries, labels, given),
            "given": given,
            "wanted": max(0, self.config.budget - given),
            "budget": self.config.budget,
            "pretrain": self.config.pretrain,
            "mine": sum(lab.labeler == labeler for lab in labels),
            **extra,
        }

    def waiting_message(self, labeler: str, queries: list[Query], labels, given: int) -> str:
        if self.worker.error:
            return self.worker.error
        if given >= self.config.budget:
            return f"all {self.config.budget} labels are given: thank you"
        if not queries:
            return "waiting for the trainer's first queries (it records the initial policy first)"
        mine = {lab.query_id for lab in labels if lab.labeler == labeler}
        open_ = [q for q in self.wanted() if q.id not in mine]
        pending = [q for q in open_ if not self.clips.query_ready(q)]
        if pending:
            first = pending[0]
            if all(sid in self.clips.failed for sid in (first.left_id, first.right_id) if not self.clips.ready(sid)):
                sid = first.left_id if first.left_id in self.clips.failed else first.right_id
                return f"segment {sid} could not be rendered: {self.clips.failed[sid]}"
            batch = [q for q in queries if (q.env_steps == 0) == (first.env_steps == 0)]
            segs = {s for q in batch for s in (q.left_id, q.right_id)}
            done = sum(self.clips.ready(s) for s in segs)
            kind = "pretraining segments" if first.env_steps == 0 else "new segments"
            return f"rendering clips: {kind} {done}/{len(segs)} rendered"
        if open_:
            return "the open queries are being labelled by others; waiting for the trainer to ask more"
        if given < self.config.pretrain:
            return (f"waiting for the trainer to ask more pretraining queries "
                    f"({given}/{self.config.pretrain} labels before RL starts)")
        return (f"every query asked so far is answered ({given}/{self.config.budget} labels); the agent "
                "trains on the current reward model and will ask for more soon")

    # ------------------------------------------------------------------ answers
    def label(self, body: LabelIn) -> dict:
        with self.lock:
            try:
                q = self.store.query(body.query_id)
            except KeyError:
                raise HTTPException(404, f"unknown query {body.query_id}") from None
            answers = [lab for lab in self.store.labels() if lab.query_id == q.id]
            if any(lab.labeler == body.labeler for lab in answers):
                raise HTTPException(409, f"query {q.id} is already labelled by {body.labeler}; nothing stored") from None
            if q.gold is None and len(answers) >= self.config.redundancy:
                raise HTTPException(409, f"query {q.id} already has {len(answers)} label(s), as many as "
                                         f"wanted (redundancy {self.config.redundancy}); nothing stored")
            try:
                saved = self.store.add_label(q.id, body.labeler, body.choice)
            except sqlite3.IntegrityError:
                raise HTTPException(409, f"query {q.id} is already labelled by {body.labeler}; nothing stored") from None
            self.leases.drop(body.labeler)
            return self.state(body.labeler, saved={"label_id": saved.id, "query_id": q.id,
                                                   "choice": saved.choice.value})

    def undo(self, body: UndoIn) -> dict:
        with self.lock:
            last = self.store.last_label(body.labeler)
            if last is None:
                raise HTTPException(404, f"{body.labeler} has no label to undo")
            self.store.delete_label(last.id)
            self.leases.give(body.labeler, last.query_id)
            return self.state(body.labeler, undone={"label_id": last.id, "query_id": last.query_id,
                                                    "choice": last.choice.value})

    def stats(self) -> dict:
        queries, labels = self.store.queries(), self.store.labels()
        return {
            "labels": self.store.count_labels(),
            "budget": self.config.budget,
            "queries": len(queries),
            "gold_queries": sum(q.gold is not None for q in queries),
            "labelers": [s.to_dict() for s in assign.labeler_stats(queries, labels)],
            "agreement": assign.agreement(labels),
            "clips_rendered": sum(self.clips.ready(s) for q in queries for s in (q.left_id, q.right_id)),
            "clips_failed": {str(k): v for k, v in self.clips.failed.items()},
        }


def _pair(q: Query | None) -> dict | None:
    return None if q is None else {"id": q.id, "left": f"/clips/{q.left_id}.gif", "right": f"/clips/{q.right_id}.gif"}


def _one_line(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(x) for x in err.get("loc", ()) if x not in ("body", "query"))
        parts.append(f"{where or 'body'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


def build_api(state: LabelingApp) -> FastAPI:
    api = FastAPI(title="prefrl labelling", docs_url=None, redoc_url=None, openapi_url=None)
    token = state.config.token

    @api.middleware("http")
    async def check_token(request: Request, call_next):
        if token is not None:
            given = request.query_params.get("token") or request.headers.get("x-token") or ""
            if not secrets.compare_digest(given.encode(), token.encode()):
                return JSONResponse({"detail": "missing or wrong token; open the URL printed at start"}, 401)
        return await call_next(request)

    @api.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        return JSONResponse({"detail": _one_line(exc)}, 422)

    @api.get("/", response_class=HTMLResponse)
    def index():
        return page.LABEL_PAGE

    @api.get("/stats", response_class=HTMLResponse)
    def stats_page():
        return page.STATS_PAGE

    @api.get("/api/health")
    def health():
        return {"ok": True, "render_error": state.worker.error}

    @api.get("/api/next")
    def next_pair(labeler: str = Param(pattern=NAME_PATTERN)):
        with state.lock:
            return state.state(labeler)

    @api.post("/api/label")
    def label(body: LabelIn):
        return state.label(body)

    @api.post("/api/undo")
    def undo(body: UndoIn):
        return state.undo(body)

    @api.get("/api/stats")
    def stats():
        return state.stats()

    @api.get("/api/labels.jsonl")
    def export():
        lines = "".join(json.dumps(r) + "\n" for r in state.store.label_records())
        return Response(lines, media_type="application/x-ndjson")

    @api.get("/clips/{name}")
    def clip(name: str):
        m = re.fullmatch(r"([1-9][0-9]{0,17})\.gif", name)
        if m is None:
            raise HTTPException(404, "no such clip; clips are /clips/<segment id>.gif")
        sid = int(m.group(1))
        if not state.clips.ready(sid) or not any(sid in (q.left_id, q.right_id) for q in state.store.queries()):
            raise HTTPException(404, f"clip {sid} is not rendered (yet) for this run")
        return FileResponse(state.clips.path(sid), media_type="image/gif",
                            headers={"Cache-Control": "private, max-age=86400, immutable"})

    return api
