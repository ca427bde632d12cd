"""Serving the page (uvicorn on 127.0.0.1 by default) and the human teacher of a training run.

Binding any address other than loopback needs a token: one is generated if none is given, and
every request must carry it. :class:`HumanTeacher` is the :class:`~prefrl.teachers.Teacher` of a
run labelled in the browser: the page runs in its own process (its own CPU and interpreter lock,
and a crash of either side loses no label: both only share the SQLite store).
"""

from __future__ import annotations

import atexit
import json
import os
import secrets
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import replace

import uvicorn

from prefrl.labeling.app import LabelingApp, PageConfig
from prefrl.queries import Query
from prefrl.store import LabelStore

LOOPBACK = ("127.0.0.1", "localhost", "::1")
TOKEN_ENV = "PREFRL_LABEL_TOKEN"


def needs_token(host: str) -> bool:
    return host not in LOOPBACK


def check_port(host: str, port: int) -> int:
    """The port to bind (0 picks a free one); ValueError with what to do if it is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError as e:
            raise ValueError(f"cannot listen on {host}:{port} ({e.strerror}); pass another --port "
                             "(0 picks a free one)") from None
        return s.getsockname()[1]


def page_url(host: str, port: int, token: str | None) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/" + (f"?token={token}" if token else "")


class LabelServer:
    """The page of one run served by uvicorn on a background thread (``with`` starts and stops it)."""

    def __init__(self, config: PageConfig, host: str = "127.0.0.1", port: int = 8000, make_renderer=None):
        if needs_token(host) and config.token is None:
            config = replace(config, token=secrets.token_urlsafe(18))
        self.port = check_port(host, port)
        self.host, self.app = host, LabelingApp(config, make_renderer)
        self._server = uvicorn.Server(uvicorn.Config(self.app.api, host=host, port=self.port, log_level="warning",
                                                     access_log=False, lifespan="off"))
        self._thread = threading.Thread(target=self._server.run, name="label-server", daemon=True)

    @property
    def url(self) -> str:
        """The page's address, with the token if one is needed: show it once to the labelers."""
        host = socket.gethostname() if self.host in ("0.0.0.0", "::") else self.host  # all interfaces
        return page_url(host, self.port, self.app.config.token)

    def start(self, timeout: float = 20.0) -> LabelServer:
        self.app.start()
        self._thread.start()
        deadline = time.time() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.time() > deadline:
                raise RuntimeError(f"the labelling page did not start on {self.host}:{self.port}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)
        self.app.close()

    def serve_forever(self, parent_pid: int | None = None) -> None:
        """Block until interrupted (Ctrl-C), stopped, or the process ``parent_pid`` has gone."""
        try:
            while self._thread.is_alive() and (parent_pid is None or os.getppid() == parent_pid):
                self._thread.join(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def __enter__(self) -> LabelServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class HumanTeacher:
    """People answer in the browser. The trainer has already stored the queries; the page's
    render worker finds them in the store. Labels arrive in the store while RL runs."""

    name = "human"

    def __init__(self, url: str, process: subprocess.Popen | None = None):
        self.url, self.process = url, process

    def request(self, queries: Sequence[Query], store: LabelStore) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"the labelling page exited (code {self.process.returncode}); "
                               f"restart it with: python -m experiments.label {store.path.parent}")

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def launch_page(command: Sequence[str], host: str, port: int, timeout: float = 60.0) -> HumanTeacher:
    """Start the page process ``command`` (it must serve on ``host:port``) and wait until it answers.

    The token, when the host needs one, is passed in the environment variable PREFRL_LABEL_TOKEN.
    Raises RuntimeError if it exits or does not answer in time (its own error is on stderr).
    """
    token = secrets.token_urlsafe(18) if needs_token(host) else None
    env = dict(os.environ) | ({TOKEN_ENV: token} if token else {})
    process = subprocess.Popen(list(command), env=env)
    url = page_url(host, port, token)
    health = page_url("127.0.0.1" if host in ("0.0.0.0", "::") else host, port, None) + "api/health"
    deadline = time.time() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the labelling page exited with code {process.returncode} (its error is above)")
        try:
            request = urllib.request.Request(health, headers={"X-Token": token} if token else {})
            with urllib.request.urlopen(request, timeout=2) as r:
                if json.loads(r.read()).get("ok"):
                    break
        except (urllib.error.URLError, OSError, ValueError):
            pass
        if time.time() > deadline:
            process.kill()
            raise RuntimeError(f"the labelling page did not answer on {host}:{port} within {timeout:.0f} s")
        time.sleep(0.2)
    teacher = HumanTeacher(url, process)
    atexit.register(teacher.close)  # the page goes when the training process ends
    return teacher
