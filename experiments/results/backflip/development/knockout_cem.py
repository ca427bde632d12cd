"""The planner's elites chosen by the teacher's answers, not by r_hat's ranking (probe).

    python experiments/results/backflip/development/knockout_cem.py SEED [ITERATIONS [PAIRS]]

ideal_clips.py found that 500 labels are enough for an r_hat whose best plans flip when the labelled
clips come from a search that climbed the oracle's score, and not enough when they come from a
search that only spreads out (novelty, no flip among 3840 clips). So the search's direction needs
the teacher's bits. Here, each iteration (2 s open-loop plans on the history backflip, 64 a batch,
prefrl.planner.KnotPlanner): r_hat (5 members, fitted on every label so far) picks the 2*PAIRS
plans it rates most optimistically (mean + spread); they are paired at random and the teacher
(the perfect oracle: the larger score wins) answers each pair; the PAIRS winners are the elites
the Gaussian is refitted to; r_hat is refitted (100 minibatch steps) on the new labels. Before the
first iteration, 32 labels on random pairs of one batch of the initial Gaussian fit r_hat (500
steps). Labels: 32 + ITERATIONS * PAIRS (default 55 * 8: 472).

Printed every 5 iterations: labels used, the batch's clean-flip share and mean oracle score; at
the end, the flip share of 32 plans drawn at 0.3 of the Gaussian's spread (what
prefrl.planner.distil would clone).

Measured (2026-12-04, `0` and `1`, two at once): flip share of the batch at iterations 20 / 35 / 50 / 55:
seed 0: 0.03 / 0.09 / 0.14 / 0.22 (mean oracle score 13.8 at 55), seed 1: 0.05 / 0.12 / 0.30 / 0.34
(26.4); the 32 plans at 0.3 of the final spread: flip share 0.31 and 0.84. Against the planner with
r_hat choosing the elites (`../plan100_history_members5_500_seed{1,2}/`: never more than 4 of 64 plans
flipping in 100 iterations, mean oracle score 7.6-7.9), the teacher choosing them puts the search on
flips with the same labels. This became `--plan-elites teacher` (prefrl/planner.py).
"""

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")
sys.path.insert(0, str(Path(__file__).resolve().parents[4]))  # the repository

import numpy as np  # noqa: E402
import torch  # noqa: E402

from prefrl import agents, planner  # noqa: E402
from prefrl.reward_model import FitConfig, PreferenceData, RewardEnsemble, RewardTrainer  # noqa: E402
from synthetic_oracle.backflip import count_flips  # noqa: E402

torch.set_num_threads(1)
ENV, HORIZON, MEMBERS = "HopperBackflipHistory", 250, 5
seed = int(sys.argv[1])
iterations = int(sys.argv[2]) if len(sys.argv) > 2 else 55
pairs = int(sys.argv[3]) if len(sys.argv) > 3 else 8
obs_dims = agents.reward_obs(ENV)
rng = np.random.default_rng(seed + 100)
torch.manual_seed(seed)
search = planner.KnotPlanner(ENV, HORIZON, np.random.default_rng(seed))
t0 = time.time()


def feats(r):
    return r.features(obs_dims).astype(np.float32)


def answer(a, b):
    return 1.0 if a.true_return > b.true_return else 0.0 if a.true_return < b.true_return else 0.5


def flip_share(rollouts):
    return float(np.mean([count_flips(r).backflips > 0 for r in rollouts]))


model = RewardEnsemble(agents.reward_input_dim(ENV), MEMBERS)
data = PreferenceData.empty(MEMBERS, HORIZON, model.in_dim)
trainer = RewardTrainer(model, FitConfig())
first = search.roll(search.sample(planner.CANDIDATES), 0)
order = rng.permutation(len(first))
left, right = [first[i] for i in order[:32]], [first[i] for i in order[32:]]
data.extend(np.stack([feats(r) for r in left]), np.stack([feats(r) for r in right]),
            np.array([answer(a, b) for a, b in zip(left, right, strict=True)]), rng)
trainer.fit(data, 500, rng)
for it in range(iterations):
    plans = search.sample(planner.CANDIDATES)
    rollouts = search.roll(plans, 0)
    member_returns = np.stack([model.predict_members(feats(r)).sum(axis=1) for r in rollouts], axis=1)
    top = planner.optimistic_order(member_returns)[: 2 * pairs]
    top = top[rng.permutation(len(top))]
    a, b = top[:pairs], top[pairs:]
    targets = np.array([answer(rollouts[i], rollouts[j]) for i, j in zip(a, b, strict=True)])
    winners = np.where(targets >= 0.5, a, b)
    rating = np.zeros(len(plans))
    rating[winners] = 1.0 + np.arange(len(winners)) * 1e-6  # the winners are the elites
    search.refit(plans, rating)
    data.extend(np.stack([feats(rollouts[i]) for i in a]), np.stack([feats(rollouts[j]) for j in b]), targets, rng)
    trainer.fit(data, 100, rng)
    if it % 5 == 4 or it == iterations - 1:
        print(f"iteration {it + 1}, {len(data)} labels: flip share {flip_share(rollouts):.2f}, mean oracle score "
              f"{np.mean([r.true_return for r in rollouts]):.1f}, winners' {np.mean([rollouts[i].true_return for i in winners]):.1f} "
              f"({time.time() - t0:.0f} s)", flush=True)
near = search.roll(search.sample(32, std_scale=planner.DISTIL_STD_SCALE), 0)
print(f"final: {len(data)} labels; 32 plans at {planner.DISTIL_STD_SCALE} of the spread: flip share "
      f"{flip_share(near):.2f}, mean oracle score {np.mean([r.true_return for r in near]):.1f}", flush=True)
