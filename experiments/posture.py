"""Which finished runs of a planar walker ended upside down: the torso's pitch over evaluation episodes.

    python -m experiments.posture experiments/results/grid_1M_obsnorm_inputnorm --env HalfCheetah

For every run of the task under RESULTS/runs that kept its policy.zip, rolls out its policy
(mean action, as the final evaluation does) and reports the share of steps with the torso upside
down (``info["upright"]`` = cos(pitch) < 0) beside the true return; runs made since evaluations
log it have it as ``final_upside_down`` and ``eval/upside_down``. A HalfCheetah that flips onto its
back early can still run forward, slowly; the true reward has no term for posture, so such runs sit
on a plateau well below the upright ones. Writes ``posture.json`` into RESULTS (a file there from
another task is kept, its runs updated) and prints one row per run.
"""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import argparse  # noqa: E402
import json  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from pathlib import Path  # noqa: E402

from envs.paper_tasks import TASKS  # noqa: E402
from experiments.reward_fit import rollout  # noqa: E402
from prefrl import cli  # noqa: E402
from prefrl.agents import upside_down_share  # noqa: E402  (the evaluations' measure)
from prefrl.config import ConfigError  # noqa: E402

PLANAR = [name for name, spec in TASKS.items() if spec.pitch_qpos is not None]  # they report info["upright"]


def posture(results: Path, env_name: str, episodes: int, seed: int) -> dict[str, dict[str, float]]:
    """Per run of ``env_name`` under ``results/runs`` with a policy.zip: the share of steps upside
    down and the true return per episode."""
    rows = {}
    for run in sorted((results / "runs").iterdir()):
        config_file = run / "config.json"
        if not (run / "policy.zip").exists() or not config_file.exists():
            continue
        if json.loads(config_file.read_text()).get("env") != env_name:
            continue
        _, _, true, facts = rollout(env_name, run, episodes, seed, deterministic=True, facts=("upright",))
        rows[run.name] = {"upside_down_share": upside_down_share(facts["upright"]),
                          "true_return_per_episode": float(true.sum() / episodes)}
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    p = cli.new_parser("python -m experiments.posture", __doc__,
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("results", type=Path, help="results folder (holding runs/)")
    p.add_argument("--env", default="HalfCheetah", help=f"task: one of {', '.join(PLANAR)}")
    p.add_argument("--episodes", type=int, default=2, help="episodes per run")
    p.add_argument("--seed", type=int, default=0, help="seed of the first episode")
    ns = p.parse_args(argv)
    if ns.env not in PLANAR:
        raise ConfigError(f"--env {ns.env}: posture is measured for {', '.join(PLANAR)} only")
    if ns.episodes <= 0:
        raise ConfigError(f"--episodes must be positive, got {ns.episodes}")
    if not (ns.results / "runs").is_dir():
        raise ConfigError(f"{ns.results} has no runs/ folder; pass the --out folder of a sweep")
    out = ns.results / "posture.json"
    try:
        kept = json.loads(out.read_text()) if out.exists() else {}
    except json.JSONDecodeError as e:
        raise ConfigError(f"{out} is not JSON ({e}); move it away and run again") from e
    rows = posture(ns.results, ns.env, ns.episodes, ns.seed)
    if not rows:
        raise ConfigError(f"no finished {ns.env} run with a policy.zip under {ns.results / 'runs'}")
    kept.setdefault(ns.env, {}).update(rows)
    out.write_text(json.dumps(kept, indent=2, sort_keys=True) + "\n")
    for name, row in rows.items():
        print(f"{name}: {100 * row['upside_down_share']:.0f}% of steps upside down, "
              f"true return {row['true_return_per_episode']:.0f} per episode")
    return 0


if __name__ == "__main__":
    cli.main_guard(main)()
