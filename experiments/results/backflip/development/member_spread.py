"""How much a run's reward-model members disagree, on its own policy and on another run's.

    python experiments/results/backflip/development/member_spread.py RUN_DIR [RUN_DIR ...]

For each RUN_DIR (a finished preference run: reward_model.npz, policy.zip) rolls out 3 episodes
(stochastic actions, seeds 0-2) of its own policy and of the ceiling's (``ceiling/``) and prints
the spread (std over the ensemble's members of their normalised rewards) per step: mean, 90th
percentile, its correlation with the oracle's score, and its mean on steps the oracle scores
above 0.05. The RUNE bonus (``--rune-beta``) pays this spread.
"""

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np  # noqa: E402

from experiments.reward_fit import rollout  # noqa: E402
from prefrl import agents, run_dir  # noqa: E402
from prefrl.reward_model import RewardEnsemble  # noqa: E402
from prefrl.segments import reward_features  # noqa: E402

CEILING = Path(__file__).resolve().parent.parent / "ceiling"


def spread(run: Path, policy_run: Path, episodes: int = 3) -> dict:
    config = run_dir.load_config(run)
    model = RewardEnsemble.from_npz((run / "reward_model.npz").read_bytes())
    # the task's reward is the oracle's per-step score
    observations, actions, score, _ = rollout(config.env, policy_run, episodes, seed=0)
    members = model.predict_members(reward_features(observations, actions, agents.reward_obs(config.env)))
    std = members.std(axis=0)
    paid = score > 0.05
    return {"steps": len(score), "spread_mean": float(std.mean()), "spread_p90": float(np.quantile(std, 0.9)),
            "corr_spread_score": float(np.corrcoef(std, score)[0, 1]),
            "spread_where_score_positive": float(std[paid].mean()) if paid.any() else None}


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        run = Path(arg)
        for policy in (run, CEILING):
            print(run.name, "policy:", policy.name, json.dumps(spread(run, policy)))
