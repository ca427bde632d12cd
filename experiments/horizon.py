"""Does a run's final policy keep going for the whole episode it is evaluated on?

Its saved policy (policy.zip) acts deterministically in the final evaluation's episodes (the same
number and seeds, so their mean reproduces summary.json's final_true_return), and the true return
and torso height are reported per window of steps. Beside them: the return per step of the agent's
last training episodes (metrics.jsonl's train/true_return over their mean length, train/episode_length, or
in runs that predate it the configured length) times the task's episode length, what the policy would
score if it went on as it did in training. A policy trained on short episodes that hops through them
and then falls shows a high training figure, high early windows and a collapse after. ``--stochastic``
samples the policy's actions, as in training, instead: a policy that does well only with its noise
scores high there and low deterministically, whatever the window.

    python -m experiments.horizon RUN_DIR [RUN_DIR ...] [--window 100] [--stochastic] [--training-only] [--out FILE.json]
"""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import json  # noqa: E402
import sys  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from prefrl import agents, cli, run_dir  # noqa: E402
from prefrl.config import RunConfig  # noqa: E402

LAST_CHUNKS = 5
"""Logged chunks whose training episodes give the training figure."""


def training_return(run: Path, config: RunConfig, episode_steps: int) -> float:
    """Mean true return per step of the last ``LAST_CHUNKS`` chunks' training episodes, times ``episode_steps``."""
    rows = [m for m in run_dir.MetricsLog(run / "metrics.jsonl").read() if np.isfinite(m.get("train/true_return", np.nan))]
    if not rows:
        raise ValueError(f"{run}: metrics.jsonl logs no training return")
    fixed = agents.training_episode_steps(config)  # unless the run logs its episodes' (growing, cut) length
    per_step = [m["train/true_return"] / m.get("train/episode_length", m.get("train/episode_steps", fixed))
                for m in rows[-LAST_CHUNKS:]]
    return float(np.mean(per_step) * episode_steps)


def windows(run: Path, window: int, rollout: bool = True, stochastic: bool = False) -> dict[str, Any]:
    """The final policy over the final evaluation's episodes, per ``window`` steps (see the module),
    ``stochastic``: its actions sampled (torch seeded with the run's seed); without ``rollout`` only the
    final and the training figures (no policy.zip needed)."""
    for name in ("policy.zip", "summary.json", "config.json")[0 if rollout else 1:]:
        if not (run / name).is_file():
            raise ValueError(f"{run}: no {name}; give the folder of a finished run")
    config = run_dir.load_config(run)
    summary = json.loads((run / "summary.json").read_text())
    _, length = agents.env_timing(config.env)
    if not rollout:
        return {"run": run.name, "env": config.env, "final_true_return": summary["final_true_return"],
                "training_return_scaled": training_return(run, config, length)}
    episodes = summary.get("final_eval_episodes", config.final_eval_episodes)
    # loaded on an env of its own: loading on the evaluation's env would use up that env's seeds
    agent = agents.load_agent(config, run / "policy.zip", agents.make_vec_env(config.env, 1, 0), None)
    venv = agents.make_vec_env(config.env, episodes, config.seed + 20_000)  # as the final evaluation
    rewards, heights = np.zeros((length, episodes)), np.full((length, episodes), np.nan)
    torch.manual_seed(config.seed)
    obs = venv.reset()
    for t in range(length):
        actions, _ = agent.predict(obs, deterministic=not stochastic)
        obs, rewards[t], _, infos = venv.step(actions)
        heights[t] = [info.get("height", np.nan) for info in infos]
    venv.close()
    edges = range(0, length, window)
    out = {
        "run": run.name,
        "env": config.env,
        "final_true_return": summary["final_true_return"],
        "actions": "sampled" if stochastic else "deterministic",
        "true_return": float(rewards.sum(axis=0).mean()),
        "training_return_scaled": training_return(run, config, length),
        "window": window,
        "window_returns": [float(rewards[i:i + window].sum(axis=0).mean()) for i in edges],
    }
    if not np.isnan(heights).all():
        out["window_heights"] = [float(heights[i:i + window].mean()) for i in edges]
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = cli.new_parser("python -m experiments.horizon", __doc__)
    parser.add_argument("runs", nargs="+", type=Path, help="folders of finished runs (with policy.zip)")
    parser.add_argument("--window", type=int, default=100, help="steps per window (default: 100)")
    parser.add_argument("--stochastic", action="store_true",
                        help="sample the policy's actions, as in training, instead of its deterministic ones")
    parser.add_argument("--training-only", action="store_true",
                        help="only the final evaluation's return and the training figure, from summary.json and "
                             "metrics.jsonl (for runs whose policy.zip was not kept)")
    parser.add_argument("--out", type=Path, help="also write the results to this JSON file (must not exist; its folder is made)")
    args = parser.parse_args(argv)
    if args.window <= 0:
        cli.fail(f"--window must be a positive number of steps, got {args.window}")
    if args.stochastic and args.training_only:
        cli.fail("--stochastic samples the policy's actions; --training-only runs no policy: drop one")
    cli.claim_out(args.out)
    torch.set_num_threads(1)
    results = []
    for run in args.runs:
        try:
            result = windows(run, args.window, rollout=not args.training_only, stochastic=args.stochastic)
        except ValueError as e:
            cli.fail(str(e))
        results.append(result)
        line = (f"{run.name}: final {result.get('true_return', result['final_true_return']):.0f} (training "
                f"episodes, scaled: {result['training_return_scaled']:.0f})")
        if "window_returns" in result:
            line += f"; per {args.window} steps: " + " ".join(f"{r:.0f}" for r in result["window_returns"])
        if "window_heights" in result:
            line += "; torso height: " + " ".join(f"{h:.2f}" for h in result["window_heights"])
        print(line)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
