"""Does cloning the planner's plans give a policy that flips? (prefrl/planner.py, probe only.)

    python experiments/results/backflip/development/plan_distil.py ITERATIONS SCALE [SCALE ...]

The planner (CEM over open-loop plans, prefrl.planner.KnotPlanner, 2 s plans on the history
backflip) is rated here by the oracle's score, not by r_hat, to separate the cloning step from
learning r_hat. After ITERATIONS, for each SCALE: 32 rollouts of plans drawn at SCALE times the
Gaussian's std (open-loop flip share printed), behaviour cloning (prefrl.planner.distil, 2000
steps) of a fresh gSDE PPO policy on the 16 best, and its clean flips over 20 deterministic
evaluation episodes (experiments.backflip.evaluate_flips).

Measured (2026-12-04, the planner as of commit bb14398; `40 1 0.3` and `60 0 0.3 1`):
- 40 iterations (20% of the last batch flipping): SCALE 1: open-loop flip share 0.31, 10 of the 16
  cloned rollouts flip, the cloned policy 0 flips in 20 episodes; SCALE 0.3: share 0.78, 16 of 16
  cloned flip, the policy 0.35 flips per episode, 7 of 20 episodes.
- 60 iterations (66% of the last batch flipping): SCALE 0, 0.3 and 1: open-loop shares 1.00, 1.00,
  0.56, all 16 cloned rollouts flip each time, each cloned policy 1.00 flips per episode, 20 of 20.
Cloning averages the plans it is given; plans that disagree average to no flip. So the planner
clones plans at 0.3 of the spread (planner.DISTIL_STD_SCALE).
"""

import os
import sys
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")
sys.path.insert(0, str(Path(__file__).resolve().parents[4]))  # the repository

import numpy as np  # noqa: E402
import torch  # noqa: E402

from experiments import backflip  # noqa: E402
from prefrl import agents, planner  # noqa: E402
from prefrl.config import RunConfig  # noqa: E402
from synthetic_oracle.backflip import count_flips  # noqa: E402

torch.set_num_threads(1)
ENV = "HopperBackflipHistory"
iterations, scales = int(sys.argv[1]), [float(s) for s in sys.argv[2:]]
rng = np.random.default_rng(0)
search = planner.KnotPlanner(ENV, 250, rng)
for it in range(iterations):
    plans = search.sample(planner.CANDIDATES)
    rollouts = search.roll(plans, 0)
    search.refit(plans, np.array([r.true_return for r in rollouts]))
    print(it, "flip share", np.mean([count_flips(r).backflips > 0 for r in rollouts]), flush=True)
for scale in scales:
    rollouts = search.roll(search.sample(32, std_scale=scale), 0)
    keep = np.argsort([-r.true_return for r in rollouts])[:16]
    print(f"scale {scale}: open-loop flip share {np.mean([count_flips(r).backflips > 0 for r in rollouts]):.2f}, "
          f"cloned rollouts flipping {sum(count_flips(rollouts[i]).backflips > 0 for i in keep)} / 16")
    torch.manual_seed(0)
    agent = agents.make_agent(RunConfig(env=ENV, oracle_score="backflip", gsde_every=8), agents.make_vec_env(ENV, 8, 0),
                              None, backflip.PPO_KWARGS, backflip.GAUSSIAN_POLICY_KWARGS)
    loss = planner.distil(agent, [rollouts[i] for i in keep], rng)
    flips = [count_flips(e).backflips for e in backflip.evaluate_flips(agent, 20, 123, env_name=ENV)]
    print(f"  cloned policy: loss {loss:.4f}, {np.mean(flips):.2f} flips per episode, "
          f"{sum(f > 0 for f in flips)} / 20 episodes with a flip", flush=True)
