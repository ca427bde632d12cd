"""How much a preference run's final r_hat depends on the action, given the observation.

    python experiments/results/hopper_700_1M/action_dependence.py [RUN_DIR] [--policy OTHER_RUN_DIR]

Rolls out 1000 steps of the policy (stochastic actions) and compares r_hat(o, a) for the
policy's actions with r_hat(o, a') for 64 uniform random actions a' per step. Prints JSON:
the spread of r_hat over the steps, the mean spread over actions at a fixed observation, and
what the best of the 64 random actions would add per step. A reward model that paid for actions
rather than states would give PPO a shortcut that needs no progress.
"""

import argparse
import json
import os
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
from stable_baselines3 import PPO  # noqa: E402

import envs  # noqa: E402
from prefrl import agents, run_dir  # noqa: E402
from prefrl.reward_model import RewardEnsemble  # noqa: E402
from prefrl.segments import reward_features  # noqa: E402

HERE = Path(__file__).parent
parser = argparse.ArgumentParser()
parser.add_argument("run", nargs="?", default=HERE / "runs/Hopper_700_disagreement_perfect_s3", type=Path)
parser.add_argument("--policy", type=Path, default=None)
ns = parser.parse_args()
config = run_dir.load_config(ns.run)
model = RewardEnsemble.from_npz((ns.run / "reward_model.npz").read_bytes())
agent = PPO.load((ns.policy or ns.run) / "policy.zip", device="cpu")
env = gym.make(envs.env_id(config.env))
obs_dims = agents.reward_obs(config.env)
observations, actions = [], []
obs, _ = env.reset(seed=5)
for _ in range(1000):
    action, _ = agent.predict(obs, deterministic=False)
    observations.append(obs)
    actions.append(np.ravel(action))
    obs, *_ = env.step(action)
O, A = np.array(observations, np.float32), np.array(actions, np.float32)
rng = np.random.default_rng(0)
r = model.predict(reward_features(O, A, obs_dims))
random = np.stack([model.predict(reward_features(O, rng.uniform(-1, 1, A.shape).astype(np.float32), obs_dims))
                   for _ in range(64)])  # (64, T)
print(json.dumps({
    "run": str(ns.run), "policy": str(ns.policy or ns.run), "steps": len(r),
    "r_hat_std_over_steps": float(r.std()),
    "r_hat_std_over_actions_at_an_observation": float(random.std(axis=0).mean()),
    "best_of_64_random_actions_minus_policy_per_step": float((random.max(axis=0) - r).mean()),
}, indent=2))
