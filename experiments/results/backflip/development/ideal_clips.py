"""Is 500 labels enough for an r_hat whose best plan is a flip, given clips that hold flips? (probe)

    python experiments/results/backflip/development/ideal_clips.py LABELS [SEED [POOL]]

Separates the two ways a 500-label run can fail: the teacher never sees flips (exploration, which
clips are asked about), or it sees them and r_hat still does not put flips on top (too few labels
for this reward model). Steps:

1. A pool of clips as good exploration would give: the planner (prefrl.planner.KnotPlanner, 2 s
   open-loop plans on the history backflip, 64 a batch) rated by the oracle's score for 60
   iterations (plan_distil.py: 66% of the last batch flip), every rollout kept (3840 clips).
2. LABELS pairs drawn uniformly from the pool, each labelled by the perfect oracle (the larger
   score wins), as the trainer's synthetic teacher does.
3. A 5-member r_hat fitted to them (prefrl.reward_model, 3000 minibatch steps; the trainer's
   FitConfig and bootstrap/validation split).
4. A fresh planner rated by that r_hat's return (members' mean) for 60 iterations; printed every 5
   iterations: the batch's share of clean flips, its mean oracle score, and the oracle score of
   the plan r_hat rates best.

Measured (2026-12-04, seed 0; `500`, `150`, `500 0 novelty`):
- oracle pool (18% of its 3840 clips flip, 66% of the last batch), 500 labels (177 with a flip on at
  least one side): r_hat orders 0.86 of its labelled pairs and 0.84 of 2000 random pool pairs right,
  and rates 80% of the pool's flips above 90% of its other clips. The search on it: flip share 0.16
  at iteration 20, 0.30 at 35-40, 0.44-0.52 at 50-60 (mean oracle score 29-31); r_hat's best plan
  flips once or twice from iteration 20 on.
- oracle pool, 150 labels (43 with a flip): pairs 0.81 / 0.77 right, 34% of the flips above 90% of
  the rest; the search: flip share <= 0.09 up to iteration 50, 0.19 at 55, 0.22 at 60 (mean 16.7),
  r_hat's best plan no flip.
- novelty pool (no clip of 3840 flips), 500 labels: pairs 0.86 / 0.85 right; the search: flip share
  <= 0.02 throughout, mean oracle score 4.4 at iteration 60 (tumbles and falls).
So 500 labels are enough for an r_hat that leads a search to flips, when they are asked on clips of
a search that climbed the teacher's preferences (flips and the motions on the way to them); clips
that only spread out, with no flip among them, are not. The missing piece in the loop is the
search's direction (which clips exist to be asked about), not r_hat's capacity.
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
ENV, HORIZON, ITERATIONS, FIT_STEPS, MEMBERS = "HopperBackflipHistory", 250, 60, 3000, 5
labels = int(sys.argv[1])
seed = int(sys.argv[2]) if len(sys.argv) > 2 else 0
POOL = sys.argv[3] if len(sys.argv) > 3 else "oracle"  # oracle | novelty | random
MUTATION = 0.3  # novelty search: std of the noise added to a parent plan's knots
obs_dims = agents.reward_obs(ENV)
t0 = time.time()


def flip_share(rollouts):
    return float(np.mean([count_flips(r).backflips > 0 for r in rollouts]))


def descriptor(r):
    """What a clip did, from its observations alone: the history entries (net pitch change over the
    last 0.25-1.5 s, highest torso, airborne and floor shares) at 0.4, 0.8, 1.2, 1.6 and 2 s."""
    return r.obs[[49, 99, 149, 199, -1], -7:].ravel()


def novelty(desc, archive, k=10):
    """Mean distance to the k nearest clips of ``archive`` (descriptors standardised on it)."""
    scale = archive.std(axis=0) + 1e-6
    a, b = desc / scale, archive / scale
    d2 = (a**2).sum(1)[:, None] + (b**2).sum(1)[None] - 2 * a @ b.T
    return np.sqrt(np.maximum(np.sort(d2, axis=1)[:, 1:k + 1], 0)).mean(axis=1)


# 1. the pool
search = planner.KnotPlanner(ENV, HORIZON, np.random.default_rng(seed))
pool_rng = np.random.default_rng(seed + 200)
features, scores, flips, descs, all_plans = [], [], [], [], []
for it in range(ITERATIONS):
    if POOL == "novelty" and it > 0:
        # novelty search: children of the archive's most novel clips (no score is read)
        archive, plans_so_far = np.stack(descs), np.stack(all_plans)
        parents = np.argsort(-novelty(archive, archive))[:16]
        pick = parents[pool_rng.integers(16, size=planner.CANDIDATES)]
        plans = plans_so_far[pick] + MUTATION * pool_rng.standard_normal(plans_so_far[pick].shape)
    else:
        plans = search.sample(planner.CANDIDATES)
    rollouts = search.roll(plans, 0)
    if POOL == "oracle":
        search.refit(plans, np.array([r.true_return for r in rollouts]))
    features += [r.features(obs_dims).astype(np.float32) for r in rollouts]
    scores += [r.true_return for r in rollouts]
    flips += [count_flips(r).backflips > 0 for r in rollouts]
    descs += [descriptor(r) for r in rollouts]
    all_plans += list(plans)
features, scores, flips = np.stack(features), np.array(scores), np.array(flips)
print(f"pool: {len(scores)} clips, {flips.mean():.2f} with a clean flip, last batch {flips[-64:].mean():.2f} "
      f"({time.time() - t0:.0f} s)", flush=True)

# 2. the labels
rng = np.random.default_rng(seed + 100)
left = rng.integers(len(scores), size=labels)
right = (left + 1 + rng.integers(len(scores) - 1, size=labels)) % len(scores)
targets = np.where(scores[left] > scores[right], 1.0, np.where(scores[left] < scores[right], 0.0, 0.5))
shown = flips[left] | flips[right]
print(f"labels: {labels}, {shown.sum()} of them with a flip in at least one clip", flush=True)

# 3. r_hat
torch.manual_seed(seed)
model = RewardEnsemble(features.shape[-1], MEMBERS)
data = PreferenceData.empty(MEMBERS, HORIZON, features.shape[-1])
data.extend(features[left], features[right], targets, rng)
trainer = RewardTrainer(model, FitConfig())
for _ in range(FIT_STEPS // 100):
    metrics = trainer.fit(data, 100, rng)
returns = np.array([model.predict(f).sum() for f in features])
order_ok = np.mean((returns[left] > returns[right]) == (scores[left] > scores[right]))
held = rng.integers(len(scores), size=(2000, 2))
held_ok = np.mean((returns[held[:, 0]] > returns[held[:, 1]]) == (scores[held[:, 0]] > scores[held[:, 1]]))
flip_rank = np.mean(returns[flips] > np.percentile(returns[~flips], 90)) if flips.any() else float("nan")
print(f"r_hat: labelled pairs ordered right {order_ok:.2f}, 2000 random pool pairs {held_ok:.2f}; share of the "
      f"pool's flips rated above 90% of its other clips {flip_rank:.2f} ({time.time() - t0:.0f} s)", flush=True)

# 4. the search on r_hat
search = planner.KnotPlanner(ENV, HORIZON, np.random.default_rng(seed + 1))
for it in range(ITERATIONS):
    plans = search.sample(planner.CANDIDATES)
    rollouts = search.roll(plans, 0)
    rating = np.array([model.predict(r.features(obs_dims).astype(np.float32)).sum() for r in rollouts])
    search.refit(plans, rating)
    if it % 5 == 4 or it == ITERATIONS - 1:
        best = rollouts[int(np.argmax(rating))]
        print(f"search on r_hat, iteration {it + 1}: flip share {flip_share(rollouts):.2f}, mean oracle score "
              f"{np.mean([r.true_return for r in rollouts]):.1f}, r_hat's best plan: oracle {best.true_return:.1f}, "
              f"{count_flips(best)} ({time.time() - t0:.0f} s)", flush=True)
