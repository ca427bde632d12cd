"""Render ahead: a background thread turns the segments people will see into GIFs.

It polls the run's label store (the trainer adds queries from another process), renders the
segments of queries that still want answers, oldest query first, into ``clips/<segment id>.gif``
and keeps going until stopped. Clips already on disk are kept, so a restarted page starts at
once. The page reads :meth:`Clips.ready` and the worker's progress to say what it waits for.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from prefrl.queries import Query
from prefrl.store import LabelStore

POLL_SECONDS = 0.5
RENDER_NICENESS = 10  # Linux: rendering yields the CPU to the web server and the browser


class Clips:
    """The run's rendered clips: ``clips/<segment id>.gif``; which segments are ready."""

    def __init__(self, run_dir: Path):
        self.dir = Path(run_dir) / "clips"
        self.dir.mkdir(parents=True, exist_ok=True)
        self._ready = {int(p.stem) for p in self.dir.glob("*.gif") if p.stem.isdigit()}
        self.failed: dict[int, str] = {}  # segment id -> why it could not be rendered

    def path(self, segment_id: int) -> Path:
        return self.dir / f"{int(segment_id)}.gif"

    def ready(self, segment_id: int) -> bool:
        return segment_id in self._ready

    def query_ready(self, query: Query) -> bool:
        return self.ready(query.left_id) and self.ready(query.right_id)

    def mark(self, segment_id: int) -> None:
        self._ready.add(segment_id)


class RenderWorker(threading.Thread):
    """Renders the segments of ``wanted()`` queries, in their order, until :meth:`stop`."""

    def __init__(self, store: LabelStore, clips: Clips, make_renderer: Callable[[], object],
                 wanted: Callable[[], list[Query]], on_idle: Callable[[], None] = lambda: None):
        super().__init__(name="render-worker", daemon=True)
        self.store, self.clips, self.make_renderer, self.wanted = store, clips, make_renderer, wanted
        self.on_idle = on_idle
        self.error: str | None = None  # why the renderer could not start
        self._stop_event, self._wake = threading.Event(), threading.Event()

    def wake(self) -> None:
        """Look at the store now (e.g. new queries were asked) instead of at the next poll."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop_event.set()
        self._wake.set()
        self.join(timeout)

    def todo(self) -> list[int]:
        """Segment ids still to render, in the order people will see them."""
        out: list[int] = []
        for q in self.wanted():
            for sid in (q.left_id, q.right_id):
                if not self.clips.ready(sid) and sid not in self.clips.failed and sid not in out:
                    out.append(sid)
        return out

    def run(self) -> None:
        if sys.platform == "linux":  # nice this thread (and the GL threads it starts): the page answers first
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), RENDER_NICENESS)
        try:
            renderer = self.make_renderer()  # OpenGL context: made and used on this thread only
        except Exception as e:  # noqa: BLE001 - shown on the page instead of killing the thread
            self.error = f"cannot render clips: {e}"
            return
        try:
            while not self._stop_event.is_set():
                todo = self.todo()
                if not todo:
                    self.on_idle()
                    self._wake.wait(POLL_SECONDS)
                    self._wake.clear()
                    continue
                for sid in todo[:4]:  # then look again: newer queries may come first
                    if self._stop_event.is_set():
                        break
                    try:
                        renderer.write_gif(self.store.segment(sid), self.clips.path(sid))
                        self.clips.mark(sid)
                    except Exception as e:  # noqa: BLE001 - one bad segment must not stop the others
                        self.clips.failed[sid] = str(e)
        finally:
            renderer.close()
