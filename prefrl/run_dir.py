"""The run directory: config.json, metrics.jsonl, the checkpoint, what made the run (provenance) and
where its CPU time went; labels.sqlite, TensorBoard logs and final models are written beside them."""

from __future__ import annotations

import fcntl
import json
import math
import os
import platform
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

from prefrl.config import ConfigError, RunConfig


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # inf / nan as strings: JSON has no literal for them
    return value


def load_config(path: Path) -> RunConfig:
    """The RunConfig in ``path``/config.json (inf/nan back from their strings)."""
    from dataclasses import fields

    raw = json.loads((Path(path) / "config.json").read_text())
    floats = {f.name for f in fields(RunConfig) if f.type in (float, "float")}
    return RunConfig(**{k: float(v) if k in floats else v for k, v in raw.items()})


def _defaults() -> dict[str, Any]:
    from dataclasses import fields

    return {f.name: _jsonable(f.default) for f in fields(RunConfig)}


def config_json(config: RunConfig) -> dict[str, Any]:
    return {k: _jsonable(v) for k, v in config.to_dict().items()}


LOCK_FILE = ".lock"
_held_locks: dict[Path, Any] = {}  # run directories this process trains in, and their open lock files


def lock(path: Path, hold: bool = True) -> None:
    """Hold ``path``/.lock for the rest of this process, so that no second process trains in the same run
    directory (two writers would interleave metrics.jsonl and the checkpoint). The kernel drops the lock
    when the process ends, however it ends, so a killed run's directory can be resumed at once.
    ``hold=False`` only checks that no other process holds it.

    Raises ConfigError if another process holds it."""
    key = Path(path).resolve()
    if key in _held_locks:
        return
    f = open(key / LOCK_FILE, "a+")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        holder = f.read().strip() or "unknown"
        f.close()
        raise ConfigError(f"run directory {path} is in use by another process (pid {holder}); "
                          "stop that process or wait for it to finish, then run again") from None
    if not hold:
        f.close()
        return
    f.seek(0)
    f.truncate()
    f.write(f"{os.getpid()}\n")
    f.flush()
    _held_locks[key] = f


def release(path: Path) -> None:
    """Give up ``path``'s lock and remove its file (a finished run's directory keeps no .lock)."""
    f = _held_locks.pop(Path(path).resolve(), None)
    if f is not None:
        (Path(path) / LOCK_FILE).unlink(missing_ok=True)
        f.close()


def die_with_parent(parent: int) -> None:
    """Have the kernel stop this process when its parent, process ``parent``, ends (Linux; elsewhere a
    no-op). For pool workers: a sweep killed with SIGKILL would otherwise leave its runs training on,
    unseen, beside the runs of the sweep started again to resume them."""
    import ctypes
    import signal
    import sys

    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)
    if os.getppid() != parent:  # the parent ended before the call: nothing will signal this process
        os._exit(1)


def config_difference(path: Path, config: RunConfig, fix: str = "pass another --run-dir") -> list[str]:
    """The settings in which the run in ``path`` (its config.json) differs from ``config``; [] if none.

    Raises ConfigError (ending in ``fix``, what to do) if the file is not JSON."""
    cfg_file = Path(path) / "config.json"
    wanted = config_json(config)
    try:
        existing = json.loads(cfg_file.read_text())
    except json.JSONDecodeError as e:
        raise ConfigError(f"{cfg_file} is not valid JSON ({e}); {fix}") from e
    # A setting added after the run was made is absent from its config.json: it ran with the default.
    existing = {k: v for k, v in _defaults().items() if k in wanted} | existing
    return sorted(k for k in set(existing) | set(wanted) if existing.get(k) != wanted.get(k))


def prepare(path: Path, config: RunConfig, hold: bool = True) -> Path:
    """Create the run directory, or reopen it if it holds the same config, and lock it to this process
    (``hold=False``: check the directory for a process that will train in it, and leave it unlocked).

    Raises ConfigError (nothing written) if it holds a different config, is not a directory, or another
    process is training in it.
    """
    path = Path(path)
    if path.is_dir() and (path / LOCK_FILE).exists():
        lock(path, hold)  # before reading anything a running process may still be writing
    if path.exists() and not path.is_dir():
        raise ConfigError(f"run directory {path} is a file; pass another --run-dir")
    cfg_file = path / "config.json"
    wanted = config_json(config)
    if cfg_file.exists():
        diff = config_difference(path, config)
        if diff:
            raise ConfigError(
                f"run directory {path} holds a different config (differs in: {', '.join(diff)}); "
                "pass another --run-dir or the same settings to resume"
            )
        if (path / "summary.json").exists():
            raise ConfigError(f"the run in {path} has already finished (see its summary.json); pass another --run-dir")
    elif path.exists() and any(p.name != LOCK_FILE for p in path.iterdir()):
        raise ConfigError(f"run directory {path} is not empty and has no config.json; pass another --run-dir")
    path.mkdir(parents=True, exist_ok=True)
    lock(path, hold)
    cfg_file.write_text(json.dumps(wanted, indent=2) + "\n")
    return path


PROVENANCE_PACKAGES = ("numpy", "torch", "mujoco", "gymnasium", "stable-baselines3")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_commit() -> str | None:
    """The commit of this checkout, with ``+dirty`` if tracked files differ from it (None outside git)."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "")


def provenance() -> dict[str, Any]:
    """What made a run, for summary.json: the code's commit, the packages and the machine. Runs of
    one seed and config agree step for step only on the same code, packages and CPU: elsewhere the
    floating-point order changes, and PPO's trajectories part ways within a few chunks."""
    versions = {}
    for name in PROVENANCE_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {"git_commit": _git_commit(), "python": platform.python_version(), "packages": versions,
            "cpu": _cpu_model(), "cpu_count": os.cpu_count(), "platform": platform.platform(),
            "numerics": numerics()}


# Environment variables that choose which code path a library's floating-point work takes.
NUMERICS_VARIABLES = ("MKL_CBWR", "ATEN_CPU_CAPABILITY", "NPY_DISABLE_CPU_FEATURES", "OPENBLAS_CORETYPE")


# MKL_CBWR's documented form: [BRANCH=]<branch>[,STRICT]. MKL runs AUTO, silently, for a value it does
# not know (e.g. "COMPAT"); and on a non-Intel CPU for any branch but COMPATIBLE.
_MKL_CBWR = re.compile(r"(BRANCH=)?(AUTO|COMPATIBLE|SSE2|SSE3|SSSE3|SSE4_1|SSE4_2|AVX|AVX2(_E\d)?"
                       r"|AVX512(_MIC)?(_E\d)?)(,STRICT)?")


def check_numerics_environment() -> None:
    """A ConfigError for an ``MKL_CBWR`` that MKL would not take (it would run AUTO, not what was asked)."""
    value = os.environ.get("MKL_CBWR")
    if value and not _MKL_CBWR.fullmatch(value.strip().upper()):  # empty: as if unset
        raise ConfigError(f"MKL_CBWR={value!r} is not a value MKL knows (it would run AUTO): give "
                          "a branch MKL knows, e.g. MKL_CBWR=COMPATIBLE, or unset it")


def numerics() -> dict[str, Any]:
    """Which floating-point code paths this process takes. torch's matrix products go through MKL,
    which picks its kernels by CPU vendor and instruction set unless ``MKL_CBWR`` pins a branch
    (``COMPATIBLE``: the same matrix products on Intel and AMD CPUs, though on Intel torch's exp, tanh and
    sqrt also go through MKL and still differ; experiments/results/cpu_paths); torch's own kernels
    dispatch on ``torch_cpu_capability``, numpy's on the SIMD targets it runs (``numpy_simd``; AVX-512
    and AVX2 kernels differ in the last bits). Unset variables read None (the library's own choice)."""
    import torch

    try:
        from numpy._core import _multiarray_umath as umath
        numpy_simd = [t for t in umath.__cpu_dispatch__ if umath.__cpu_features__.get(t)]
    except (ImportError, AttributeError):  # a numpy without these internals
        numpy_simd = None
    return {"torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "torch_uses_mkl": torch.backends.mkl.is_available(), "numpy_simd": numpy_simd,
            **{name: os.environ.get(name) for name in NUMERICS_VARIABLES}}


class MetricsLog:
    """Appends one JSON object per line to metrics.jsonl."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def write(self, metrics: dict[str, Any]) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps({k: _jsonable(v) for k, v in metrics.items()}) + "\n")

    def truncate(self, env_steps: int) -> None:
        """Drop records past ``env_steps`` (a resumed run logs those steps again)."""
        kept = [m for m in self.read() if m.get("env_steps", 0) <= env_steps]
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text("".join(json.dumps(m) + "\n" for m in kept))
        tmp.replace(self.path)

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]


class Checkpoint:
    """The latest chunk's policy, reward model and state, replaced atomically (write, then rename)."""

    def __init__(self, path: Path):
        self.path = path
        self.policy, self.reward_model = path / "policy.zip", path / "reward_model.npz"
        self.agent_reward_model = path / "agent_reward_model.npz"

    def exists(self) -> bool:
        return (self.path / "state.json").exists()

    def state(self) -> dict[str, Any]:
        return json.loads((self.path / "state.json").read_text())

    def save(self, agent, reward_model: bytes | None, state: dict[str, Any],
             agent_reward_model: bytes | None = None) -> None:
        """``agent_reward_model``: the average the agent learns, where it is not ``reward_model``."""
        tmp = self.path.with_name(self.path.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        agent.save(tmp / "policy.zip")
        if reward_model is not None:
            (tmp / "reward_model.npz").write_bytes(reward_model)
        if agent_reward_model is not None:
            (tmp / self.agent_reward_model.name).write_bytes(agent_reward_model)
        (tmp / "state.json").write_text(json.dumps(state))
        old = self.path.with_name(self.path.name + ".old")
        if self.path.exists():
            self.path.rename(old)
        tmp.rename(self.path)
        shutil.rmtree(old, ignore_errors=True)

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


class CpuClock:
    """CPU seconds of this process spent in named parts of a run: ``with clock("fit"): ...``.

    Process time, not wall time, so that what else the machine runs does not count."""

    def __init__(self, parts: dict[str, float] | None = None):
        self.parts: dict[str, float] = dict(parts or {})

    @contextmanager
    def __call__(self, part: str) -> Iterator[None]:
        start = time.process_time()
        try:
            yield
        finally:
            self.add(part, time.process_time() - start)

    def add(self, part: str, seconds: float) -> None:
        self.parts[part] = self.parts.get(part, 0.0) + seconds

    def breakdown(self, cpu_time: float, loop_parts: tuple[str, ...]) -> dict[str, Any]:
        """Where a run's ``cpu_time`` went; ``rl_and_env`` (PPO and the simulator) is the rest. With
        ``loop_parts`` (a preference run's), their share: the run's own measure of its overhead,
        comparable across machines (evaluation and checkpoints are not in it)."""
        parts = dict(self.parts)
        parts["rl_and_env"] = max(0.0, cpu_time - sum(parts.values()))
        out: dict[str, Any] = {"cpu_time_parts": {k: round(v, 3) for k, v in sorted(parts.items())}}
        if loop_parts:
            out["preference_loop_cpu_share"] = sum(parts.get(k, 0.0) for k in loop_parts) / max(cpu_time, 1e-9)
        return out
