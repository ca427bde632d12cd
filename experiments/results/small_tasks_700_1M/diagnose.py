"""Why InvertedPendulum failed before the respawn (see README.md here).

    python experiments/results/small_tasks_700_1M/diagnose.py

1. The true-reward policy's first fall (its policy.zip is committed): step and cart position
   (3 deterministic episodes).
2. The answers to the 700-label run's queries, if its labels.sqlite is present (not committed:
   `python -m experiments.sweep --envs InvertedPendulum --labels 700 --seeds 0 --steps 1000000
   --out DIR` at commit 6f1e3fe regenerates it).
"""

import os
from collections import Counter
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

import gymnasium as gym  # noqa: E402
from stable_baselines3 import PPO  # noqa: E402

import envs  # noqa: E402
from prefrl.store import LabelStore  # noqa: E402

HERE = Path(__file__).parent / "runs"
policy = PPO.load(HERE / "InvertedPendulum_true_s0/policy.zip", device="cpu")
env = gym.make(envs.env_id("InvertedPendulum"))
for seed in range(3):
    obs, _ = env.reset(seed=seed)
    for t in range(1000):
        obs, _, _, _, info = env.step(policy.predict(obs, deterministic=True)[0])
        if not info["healthy"]:
            print(f"episode {seed}: pole down at step {t + 1}, cart at x = {obs[0]:.3f} (rail end: 1.0)")
            break
labels = HERE / "InvertedPendulum_700_disagreement_perfect_s0/labels.sqlite"
if labels.exists():
    print("answers of the 700-label run:", dict(Counter(lab.choice.name for lab in LabelStore(labels).labels())))
