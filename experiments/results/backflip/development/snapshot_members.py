"""Each evaluated policy of a run, as each member of its final reward model rates it.

    python experiments/results/backflip/development/snapshot_members.py RUN_DIR [RUN_DIR ...]

For each RUN_DIR (a finished experiments.backflip run with its ``snapshots/``, which are not
committed: the run's command makes them again) prints, per snapshot (env step), every member's
mean r_hat return over the snapshot's evaluation episodes, their mean and std across members,
mean - std (a pessimistic rating) and the oracle's mean score of the same episodes. The question:
does a rating that distrusts what the members disagree on pick another policy than r_hat's mean?
"""

import os
import sys
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np  # noqa: E402

from prefrl.reward_model import RewardEnsemble  # noqa: E402

for run in map(Path, sys.argv[1:]):
    model = RewardEnsemble.from_npz((run / "reward_model.npz").read_bytes())
    print(run)
    best = {}
    for f in sorted((run / "snapshots").glob("*.npz"), key=lambda f: int(f.stem)):
        with np.load(f) as z:
            x, score = z["features"], float(z["true_return"].mean())
        episodes, steps, dim = x.shape
        members = model.predict_members(x.reshape(-1, dim)).reshape(model.members, episodes, steps).sum(-1).mean(1)
        mean, std = float(members.mean()), float(members.std())
        best = {k: max(best.get(k, (-np.inf, 0)), (v, int(f.stem))) for k, v in (("mean", mean), ("mean - std", mean - std))}
        print(f"  {int(f.stem):>9}  members {np.round(members, 1)}  mean {mean:7.1f}  std {std:6.1f}  "
              f"mean - std {mean - std:7.1f}  oracle {score:6.1f}")
    print("  chosen: " + ", ".join(f"by {k} the policy at {steps} steps" for k, (_, steps) in best.items()))
