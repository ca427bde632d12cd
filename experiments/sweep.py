"""Run a grid of runs (tasks x label budgets x selectors x oracle variants x seeds, plus the
true-reward baseline) into one results folder; finished runs are skipped.

    python -m experiments.sweep --envs Hopper --labels 700 --seeds 0,1,2 --out experiments/results/hopper_700
    python -m experiments.sweep ... --ray auto        # the same grid as Ray tasks on a Ray cluster
    python -m experiments.sweep ... --ray local       # ... on a private Ray instance on this machine

Locally the grid runs in a process pool, one process per core, one torch thread each.
Each run writes its own directory under OUT/runs/; ``python -m experiments.plot OUT`` draws it.
OUT/sweep.json lists every sweep run into the folder: command line, start time, settings.
"""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import dataclasses  # noqa: E402
import fcntl  # noqa: E402
import importlib  # noqa: E402
import json  # noqa: E402
import shlex  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from concurrent.futures import ProcessPoolExecutor, as_completed  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from itertools import product  # noqa: E402
from multiprocessing import get_context  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from prefrl import cli, run_dir  # noqa: E402
from prefrl.config import ConfigError, RunConfig, arg  # noqa: E402
from prefrl.results import seed_range  # noqa: E402

# Named oracle variants for the grid: the perfect oracle, B-Pref's noisy teachers and a
# systematically biased one. Skip/equal thresholds are in units of a Hopper segment's true
# return (60 steps; a fallen Hopper's segment scores below ~15, a moving one 60-200).
ORACLES: dict[str, dict[str, float | str]] = {
    "perfect": {},
    "beta1": {"oracle_beta": 1.0},
    "mistake10": {"oracle_epsilon": 0.1},
    "myopic0.9": {"oracle_gamma": 0.9},
    "skip15": {"oracle_skip_threshold": 15.0},
    "equal3": {"oracle_equal_threshold": 3.0},
    "height_biased": {"oracle_score": "height_biased"},
}

ABLATIONS: dict[str, dict[str, bool | int | str]] = {
    "none": {},
    "offline": {"offline": True},
    "single": {"members": 1, "selector": "uniform"},
    "fixed_l2": {"fixed_l2": True},
}


@dataclass(frozen=True)
class SweepConfig:
    envs: str = arg("Hopper", "comma-separated tasks")
    labels: str = arg("700", "comma-separated label budgets")
    seeds: str = arg("0,1,2", "comma-separated seeds or ranges of them (0-9: seeds 0 to 9)")
    selectors: str = arg("disagreement", "comma-separated query selectors")
    ablations: str = arg("none", "comma-separated: none, offline, single (one reward model, uniform), fixed_l2")
    oracles: str = arg("perfect", f"comma-separated oracle variants: {', '.join(ORACLES)}")
    overrides: str = arg("", "comma-separated NAME=VALUE settings of every run, the baseline's too "
                             "(e.g. ent_coef=0.01); they join the run names")
    segments: str = arg("", "comma-separated segment lengths in seconds of simulated time (0: the task's "
                            "default); empty: the task's default only")
    baseline: bool = arg(True, "also run PPO on the true reward for every task and seed")
    scaled_baseline: bool = arg(False, "also run PPO on the true reward standardised on recent behaviour "
                                       "(scale_true_reward, as r_hat is) for every task and seed")
    steps: int = arg(1_000_000, "environment steps per run")
    out: str = arg("experiments/results/sweep", "results folder")
    imports: str = arg("", "comma-separated modules every run imports first, e.g. one that registers your "
                           "own prefrl/<Name>-v0 tasks")
    workers: int = arg(os.cpu_count() or 1, "parallel local processes")
    ray: str = arg("", "Ray cluster address ('auto': the cluster started on this machine with `ray start`; "
                       "'local': a private Ray instance of --workers CPUs); empty: local process pool")

    def grid(self) -> list[tuple[str, RunConfig]]:
        """(run name, config) for every cell of the grid."""

        def split(name, parse=lambda x: [x]):
            text = getattr(self, name)
            try:
                return [value for x in text.split(",") if x.strip() for value in parse(x.strip())]
            except ValueError:
                example = {"labels": "350,700", "seeds": "0,1,2 or 0-9", "segments": "1,1.5"}[name]
                raise ConfigError(f"--{name}: {text!r} is not a comma-separated list of numbers "
                                  f"(e.g. --{name} {example})") from None

        envs, seeds, budgets = split("envs"), split("seeds", seed_range), split("labels", lambda x: [int(x)])
        selectors, oracles, ablations = split("selectors"), split("oracles"), split("ablations")
        segments = split("segments", lambda x: [float(x)]) or [None]
        for name, values, example in (("envs", envs, "Hopper,Walker2d"), ("seeds", seeds, "0,1,2")):
            if not values:
                raise ConfigError(f"--{name} is empty: name at least one (e.g. --{name} {example})")
        if budgets:
            for name, values, example in (("selectors", selectors, "disagreement"), ("oracles", oracles, "perfect"),
                                          ("ablations", ablations, "none")):
                if not values:
                    raise ConfigError(f"--{name} is empty, so the --labels runs would be left out: name at least "
                                      f"one (e.g. --{name} {example}), or give --labels ''")
        elif not (self.baseline or self.scaled_baseline):
            raise ConfigError("the grid has no runs: give --labels, or leave --baseline true")
        settings = cli.parse_overrides(self.overrides, RunConfig)
        tag = "".join(f"_{k}{_tag_value(v)}" for k, v in settings.items())

        runs = []
        for env in envs:
            for seed in seeds:
                if self.baseline:
                    runs.append((f"{env}_true{tag}_s{seed}", RunConfig(env=env, seed=seed, steps=self.steps,
                                                                       true_reward=True, **settings)))
                if self.scaled_baseline:
                    runs.append((f"{env}_true_scaled{tag}_s{seed}",
                                 RunConfig(env=env, seed=seed, steps=self.steps, true_reward=True,
                                           scale_true_reward=True, **settings)))
                for labels, selector, oracle, ablation, seconds in product(budgets, selectors, oracles, ablations,
                                                                           segments):
                    if oracle not in ORACLES:
                        raise ConfigError(f"unknown oracle variant {oracle!r}; known: {', '.join(ORACLES)}")
                    if ablation not in ABLATIONS:
                        raise ConfigError(f"unknown ablation {ablation!r}; known: {', '.join(ABLATIONS)}")
                    length = {} if seconds is None else {"segment_seconds": seconds}
                    cfg = RunConfig(**{"env": env, "seed": seed, "steps": self.steps, "labels": labels,
                                       "selector": selector, **length, **ORACLES[oracle], **ABLATIONS[ablation],
                                       **settings})
                    suffix = "" if ablation == "none" else f"_{ablation}"
                    if seconds is not None and seconds != RunConfig.segment_seconds:
                        suffix += f"_seg{seconds:g}"
                    runs.append((f"{env}_{labels}_{cfg.selector}_{oracle}{suffix}{tag}_s{seed}", cfg))
        twice = [name for name, n in Counter(name for name, _ in runs).items() if n > 1]
        if twice:
            raise ConfigError(f"the grid has run {twice[0]} more than once: a value is repeated in --envs, "
                              "--labels, --seeds, --selectors, --oracles, --ablations or --segments; give each once")
        return runs


def check_held_runs(out: Path, grid: list[tuple[str, RunConfig]]) -> None:
    """Refuse (ConfigError, nothing written) a grid whose run directories in ``out`` already hold runs of
    other settings (e.g. fewer --steps): counting such a run as this sweep's would mix settings in a group."""
    clashes = []
    for name, cfg in grid:
        path = out / "runs" / name
        if (path / "config.json").exists():
            diff = run_dir.config_difference(path, cfg, fix="move that run away, then sweep again")
            if diff:
                clashes.append(f"{name} differs in: {', '.join(diff)}")
    if clashes:
        raise ConfigError(f"{len(clashes)} of this grid's runs in {out / 'runs'} were made with other settings "
                          f"({clashes[0]}{'; ...' if len(clashes) > 1 else ''}); pass another --out, or the "
                          "settings they were made with to extend or resume them (nothing was run)")


def import_all(modules: Sequence[str]) -> None:
    """Import ``modules`` (e.g. ones that register more tasks); a clear error for a missing one."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as e:
            raise ConfigError(f"--imports: cannot import {module!r} ({e}); is it on PYTHONPATH?") from e


def _tag_value(value: Any) -> str:
    """An override's value as it goes into a run's name: a float as %g, and a path (``reward_model``)
    with its separators as ``_``, so that every run stays one folder directly under ``runs/``, where
    the sweep's resume and ``experiments.plot`` look for it."""
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return text.replace(os.sep, "_").replace("/", "_")


def run_one(name: str, config: dict[str, Any], out: str, imports: Sequence[str] = ()) -> dict[str, Any]:
    """One run in this process (a pool worker or a Ray task); returns its summary."""
    import torch

    import_all(imports)
    from prefrl.trainer import train

    torch.set_num_threads(1)
    path = Path(out) / "runs" / name
    if (path / "summary.json").exists():
        return json.loads((path / "summary.json").read_text())
    return train(RunConfig(**config), path)


def _reachable(address: str, timeout: float = 5.0) -> str | None:
    """None if something accepts TCP connections at ``address`` (``[ray://]HOST:PORT``), else why not.
    Ray itself retries an address that does not answer for minutes, printing a warning every few seconds."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        return f"{address!r} is not HOST:PORT"
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as e:
        return f"nothing answers at {address} ({e})"
    return None


def connect_ray(address: str, workers: int) -> None:
    """Join the Ray cluster at ``address`` ('auto': the one started on this machine with ``ray start``;
    'local': start a private Ray instance with ``workers`` CPUs). Raises ConfigError, saying what to do,
    if Ray is not installed or there is no cluster there."""
    try:
        import ray
    except ImportError as e:
        raise ConfigError("--ray needs Ray: pip install -e '.[ray]'") from e
    if address == "local":
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
        return
    why = None if address == "auto" else _reachable(address)
    if why is None:
        try:
            ray.init(address=address, log_to_driver=False)
            return
        except ConnectionError as e:
            why = str(e).splitlines()[0]
    raise ConfigError(f"--ray {address}: {why}; start a cluster (ray start --head) and give its address, "
                      "or use --ray local (nothing was run)")


def run_on_ray(jobs: list[tuple[str, dict[str, Any], str, list[str]]], report) -> None:
    """The jobs as Ray tasks, one CPU each, on the cluster :func:`connect_ray` joined, reported as they
    finish; Ray is shut down at the end, however it ends."""
    import ray

    try:
        remote = ray.remote(num_cpus=1, max_retries=0)(run_one)
        pending = {remote.remote(*job): job[0] for job in jobs}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            report(pending.pop(done[0]), ray.get(done[0]))
    finally:
        ray.shutdown()


def log_sweep(path: Path, sweep: SweepConfig, argv: Sequence[str]) -> None:
    """Append this sweep (its command line, start time and settings) to ``path``'s list
    ``{"sweeps": [...]}``, so a folder filled by several commands records each of them. A file
    of the earlier one-sweep format (one settings object) becomes the list's first entry; a file
    that is neither is left as it is and the sweep refused. Sweeps started together into one folder
    take turns (an exclusive lock on the folder while each reads and rewrites the file), so none is
    lost."""
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)  # released when the descriptor closes
        _append_sweep(path, sweep, argv)
    finally:
        os.close(folder)


def _append_sweep(path: Path, sweep: SweepConfig, argv: Sequence[str]) -> None:
    entries: list[dict[str, Any]] = []
    if path.exists():
        try:
            held = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path} is not JSON ({e}); move it away or repair it, then run again") from e
        if isinstance(held, dict) and isinstance(held.get("sweeps"), list):
            entries = held["sweeps"]
        elif isinstance(held, dict) and "envs" in held:
            entries = [held]
        else:
            raise ConfigError(f"{path} is not a record of sweeps; move it away, then run again")
    entries.append({"command": shlex.join(["python", "-m", "experiments.sweep", *argv]),
                    "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **dataclasses.asdict(sweep)})
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"sweeps": entries}, indent=2) + "\n")
    os.replace(tmp, path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = cli.build_parser(SweepConfig, "python -m experiments.sweep", __doc__)
    sweep, _ = cli.parse(SweepConfig, argv, parser)
    if sweep.workers <= 0:
        raise ConfigError(f"--workers must be positive, got {sweep.workers}")
    imports = [m.strip() for m in sweep.imports.split(",") if m.strip()]
    import_all(imports)
    grid = sweep.grid()
    out = Path(sweep.out)
    check_held_runs(out, grid)
    todo = [(name, cfg) for name, cfg in grid if not (out / "runs" / name / "summary.json").exists()]
    print(f"{len(grid)} runs in the grid, {len(grid) - len(todo)} already finished, {len(todo)} to run "
          f"({'ray ' + sweep.ray if sweep.ray else f'{sweep.workers} local processes'})", file=sys.stderr)
    if sweep.ray:
        connect_ray(sweep.ray, sweep.workers)  # before anything is written: a cluster that is not there
    (out / "runs").mkdir(parents=True, exist_ok=True)
    log_sweep(out / "sweep.json", sweep, sys.argv[1:] if argv is None else argv)
    start = time.time()
    jobs = [(name, cfg.to_dict(), str(out), imports) for name, cfg in todo]
    def report(name: str, summary: dict[str, Any]) -> None:
        print(f"{name}: final true return {summary['final_true_return']:.1f} "
              f"({summary['wall_time'] / 60:.1f} min)", file=sys.stderr)

    if sweep.ray:
        run_on_ray(jobs, report)
    else:
        with ProcessPoolExecutor(sweep.workers, mp_context=get_context("spawn"),
                                 initializer=run_dir.die_with_parent, initargs=(os.getpid(),)) as pool:
            futures = {pool.submit(run_one, *job): job[0] for job in jobs}
            for future in as_completed(futures):
                report(futures[future], future.result())
    print(f"sweep finished in {(time.time() - start) / 60:.1f} min; plot with: python -m experiments.plot {out}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    cli.main_guard(main)()
