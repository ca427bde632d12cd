"""How well a finished run's reward model matches the true reward, step by step, on its own rollouts.

    python -m experiments.reward_fit experiments/results/hopper_700_1M/runs/Hopper_700_disagreement_perfect_s0
    python -m experiments.reward_fit RUN_DIR --policy OTHER_RUN_DIR     # on another run's policy
    python -m experiments.reward_fit RUN_DIR --deterministic --gammas 0.995,0.998   # mean actions, as evaluations act

Rolls out the policy (stochastic actions, or with --deterministic its mean action) of RUN_DIR (or of --policy) on the run's task, and
reports the per-step correlation of r_hat with the true reward and with each of its parts, and
the least-squares fit ``r_hat ~ sum_k w_k * part_k + c``: how r_hat weighs the parts the true
reward adds with weight 1. Also, per discount in ``--gammas``, the discounted true and r_hat
returns from an episode's first step (mean over episodes): what an agent with that discount weighs
when it chooses how to start. Comparing them between RUN_DIR's own policy and another's (--policy)
tells whether a behaviour the agent settled on is what r_hat and the truth prefer at the agent's
discount, or an error of r_hat or of the optimiser. And the true and r_hat returns per
``--window`` steps (mean over episodes): where in the episode each policy earns and loses. Writes
``reward_fit.json`` (``reward_fit_on_<policy run>.json`` with --policy) into RUN_DIR and prints it.
"""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import argparse  # noqa: E402
import json  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from prefrl import agents, cli, run_dir  # noqa: E402
from prefrl.config import ConfigError  # noqa: E402

Rollout = tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, list[float]]]


def rollout(env_name: str, policy_run: Path, episodes: int, seed: int, deterministic: bool = False,
            facts: Sequence[str] = ()) -> Rollout:
    """``episodes`` episodes of ``policy_run``'s policy (stochastic actions, or its mean action with
    ``deterministic`` as in evaluation) on task ``env_name``: (observations, actions, true rewards,
    the true reward's parts ``info["reward_*"]`` and the ``facts`` the env reports, per step)."""
    import gymnasium as gym
    from stable_baselines3 import A2C, PPO

    import envs

    policy_config = json.loads((policy_run / "config.json").read_text())
    agent = (A2C if policy_config.get("algo") == "a2c" else PPO).load(policy_run / "policy.zip", device="cpu")
    env = gym.make(envs.env_id(env_name))
    observations, actions, true, parts = [], [], [], {}
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed + episode)
        done = False
        while not done:
            action, _ = agent.predict(obs, deterministic=deterministic)
            observations.append(obs)
            actions.append(np.ravel(action))
            obs, reward, terminated, truncated, info = env.step(action)
            done = terminated or truncated
            true.append(reward)
            for k, v in info.items():
                if k.startswith("reward_") or k in facts:
                    parts.setdefault(k, []).append(float(v))
    env.close()
    return np.array(observations), np.array(actions), np.array(true), parts


def discounted_from_start(rewards: np.ndarray, episodes: int, gamma: float) -> float:
    """Mean over ``episodes`` equal-length episodes (``rewards`` one after another) of the return
    discounted by ``gamma`` from each episode's first step."""
    per_episode = rewards.reshape(episodes, -1)
    return float((per_episode @ gamma ** np.arange(per_episode.shape[1])).mean())


def per_window(rewards: np.ndarray, episodes: int, window: int) -> list[float]:
    """Mean over episodes of the return of each ``window`` steps (the last window may be shorter)."""
    mean_episode = rewards.reshape(episodes, -1).mean(axis=0)
    return [float(mean_episode[i:i + window].sum()) for i in range(0, len(mean_episode), window)]


def reward_fit(run: Path, policy_run: Path, episodes: int, seed: int, deterministic: bool = False,
               gammas: Sequence[float] = (), window: int = 100) -> dict:
    import torch

    from prefrl.reward_model import RewardEnsemble
    from prefrl.segments import reward_features

    config = run_dir.load_config(run)
    for path in (run / "reward_model.npz", policy_run / "policy.zip"):
        if not path.exists():
            raise ConfigError(f"{path} does not exist: give a finished preference run (and a finished --policy run)")
    model = RewardEnsemble.from_npz((run / "reward_model.npz").read_bytes())
    observations, actions, true, parts = rollout(config.env, policy_run, episodes, seed, deterministic)
    if len(true) % episodes:
        raise ConfigError(f"{config.env}'s episodes differ in length: discounted returns need fixed-length episodes")
    with torch.no_grad():
        r_hat = model(torch.as_tensor(reward_features(observations, actions, agents.reward_obs(config.env)))).numpy()
    varying = {k: np.array(v) for k, v in parts.items() if np.std(v) > 1e-9}
    design = np.stack([*varying.values(), np.ones_like(true)], axis=1)
    weights = np.linalg.lstsq(design, r_hat, rcond=None)[0]
    return {
        "run": str(run), "policy": str(policy_run), "episodes": episodes, "steps": len(true),
        "true_return_per_episode": float(true.sum() / episodes),
        "r_hat_return_per_episode": float(r_hat.sum() / episodes),
        "corr_true_reward": float(np.corrcoef(r_hat, true)[0, 1]),
        "corr_parts": {k: float(np.corrcoef(r_hat, v)[0, 1]) for k, v in varying.items()},
        "fit_weights": {k: float(w) for k, w in zip(varying, weights, strict=False)},
        "part_means": {k: float(v.mean()) for k, v in varying.items()},
        "deterministic": deterministic,
        "discounted_from_start": {f"{g:g}": {"true": discounted_from_start(true, episodes, g),
                                             "r_hat": discounted_from_start(r_hat, episodes, g)} for g in gammas},
        "window": window,
        "true_per_window": per_window(true, episodes, window),
        "r_hat_per_window": per_window(r_hat, episodes, window),
    }


def main(argv: Sequence[str] | None = None) -> int:
    p = cli.new_parser("python -m experiments.reward_fit", __doc__,
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("run_dir", help="a finished preference run (holds reward_model.npz)")
    p.add_argument("--policy", default=None, help="run directory whose policy.zip to roll out (default: RUN_DIR)")
    p.add_argument("--episodes", type=int, default=3, help="episodes to roll out")
    p.add_argument("--seed", type=int, default=0, help="seed of the first episode")
    p.add_argument("--deterministic", action="store_true", help="act with the policy's mean action, as evaluations do "
                                                                "(default: sample actions, as in training)")
    p.add_argument("--gammas", default="0.99,0.995,0.998,0.999",
                   help="comma-separated discounts of the returns from the first step")
    p.add_argument("--window", type=int, default=100, help="steps per window of the per-window returns")
    ns = p.parse_args(argv)
    if ns.episodes <= 0:
        raise ConfigError(f"--episodes must be positive, got {ns.episodes}")
    if ns.window <= 0:
        raise ConfigError(f"--window must be positive, got {ns.window}")
    try:
        gammas = [float(g) for g in ns.gammas.split(",") if g.strip()]
    except ValueError:
        raise ConfigError(f"--gammas: {ns.gammas!r} is not a comma-separated list of numbers (e.g. 0.995,0.998)") from None
    if not all(0 < g <= 1 for g in gammas):
        raise ConfigError(f"--gammas must each be in (0, 1], got {ns.gammas}")
    run = Path(ns.run_dir)
    if not (run / "config.json").exists():
        raise ConfigError(f"{run} is not a run directory (no config.json)")
    policy = Path(ns.policy or run)
    result = reward_fit(run, policy, ns.episodes, ns.seed, ns.deterministic, gammas, ns.window)
    name = "reward_fit.json" if policy.resolve() == run.resolve() else f"reward_fit_on_{policy.name}.json"
    (run / name).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    cli.main_guard(main)()
