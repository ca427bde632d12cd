"""Where a finished run's final r_hat leads a search over whole plans (probe for prefrl/planner.py).

    python experiments/results/backflip/development/cem_rhat.py RUN_DIR SEED ITERATIONS

The cross-entropy method over 25 action knots of a 2 s open-loop plan (64 plans an iteration, all
from env.reset(seed=SEED), the 8 best by RUN_DIR's reward_model.npz refitted), printing every third
iteration the best plan's r_hat, its oracle score and flip count, the batch's mean oracle score and
its clean flips. The history task is used when RUN_DIR's name contains "history".

Measured (2026-12-04): `labels_500 0 70`: at iteration 69 the best plan's r_hat is 114.5 per 2 s,
its oracle score 3.6, no flip, and no batch held a flip; `history_members5_500_seed2 0 52`: at
iteration 51 r_hat 152.3, oracle score 5.0, one fall, no flip (one flip in each of two batches on the
way). Those reward models' best plans are tumbles, not flips.
`plan100_history_members5_500_seed1 0 90` (the planner run's final r_hat, 432 of its 500 labels asked
on planner clips): at iteration 88 the best plan's r_hat is -18.8, oracle score 3.5, one fall, no
flip; the batch's mean oracle score rose from -0.25 to 2.9, and 11 of the 37 printed batches held one
flip of 64. Labelling the planner's clips did not make flips r_hat's optimum either.
"""
import os, sys, time
os.environ.setdefault("MUJOCO_GL", "egl")
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[4]))  # the repository
import numpy as np, gymnasium as gym, torch
torch.set_num_threads(1)
import envs  # noqa
from prefrl.reward_model import RewardEnsemble
from pathlib import Path
run = Path(sys.argv[1]); seed = int(sys.argv[2]); iters = int(sys.argv[3])
env_name = "prefrl/HopperBackflipHistory-v0" if "history" in run.name else "prefrl/HopperBackflip-v0"
model = RewardEnsemble.from_npz((run / "reward_model.npz").read_bytes())
H, K, N, E = 250, 25, 64, 8
env = gym.make(env_name).unwrapped
def actions(p):
    knots = p.reshape(K, 3); t = np.linspace(0, K - 1, H)
    return np.clip(np.stack([np.interp(t, np.arange(K), knots[:, j]) for j in range(3)], 1), -1, 1)
def rollout(p):
    obs, _ = env.reset(seed=seed); feats = []; tot = 0.0
    for a in actions(p):
        feats.append(np.concatenate([obs, a])); obs, r, *_ = env.step(a); tot += r
    rh = model.predict(np.asarray(feats, dtype=np.float32)).sum()
    return rh, tot, env._tracker.count
rng = np.random.default_rng(seed)
mu = np.zeros(K * 3); sd = np.ones(K * 3) * 0.8
t0 = time.time()
for it in range(iters):
    P = mu + sd * rng.standard_normal((N, K * 3))
    R = [rollout(p) for p in P]
    S = np.array([r[0] for r in R])
    el = P[np.argsort(S)[-E:]]
    mu = 0.7 * mu + 0.3 * el.mean(0); sd = 0.7 * sd + 0.3 * el.std(0) + 0.02
    b = R[int(S.argmax())]
    flips = sum(r[2].backflips for r in R)
    if it % 3 == 0 or flips:
        print(it, round(time.time() - t0), "best rhat", round(b[0], 1), "its oracle", round(b[1], 1), b[2], "mean oracle", round(np.mean([r[1] for r in R]), 2), "flips in batch", flips, flush=True)
