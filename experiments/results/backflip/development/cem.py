import os, sys, time
os.environ.setdefault("MUJOCO_GL", "egl")
import numpy as np, gymnasium as gym
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[4]))  # the repository
import envs  # noqa
from synthetic_oracle.backflip import BackflipTracker
H = int(sys.argv[1]) if len(sys.argv) > 1 else 250
K = 25
env = gym.make("prefrl/HopperBackflip-v0").unwrapped
env.reset(seed=0)
def actions(p):
    knots = p.reshape(K, 3)
    t = np.linspace(0, K - 1, H)
    return np.clip(np.stack([np.interp(t, np.arange(K), knots[:, j]) for j in range(3)], 1), -1, 1)
def rollout(p, record=False):
    env.reset(seed=0)
    tot = 0.0; minpitch = 0; maxh = 0; rows = []
    for a in actions(p):
        _, r, _, _, info = env.step(a)
        tot += r
        if record: rows.append((info["pitch"], info["height"], info["airborne"], info["contact_torso"] + info["contact_thigh"], env.data.qvel[1], env.data.qvel[2]))
    c = env._tracker.count
    return tot, c, rows
rng = np.random.default_rng(int(sys.argv[2]) if len(sys.argv) > 2 else 0)
mu = np.zeros(K * 3); sd = np.ones(K * 3) * 0.8
best = (-1e9, None)
t0 = time.time()
for it in range(int(sys.argv[3]) if len(sys.argv) > 3 else 80):
    P = mu + sd * rng.standard_normal((64, K * 3))
    S = np.array([rollout(p)[0] for p in P])
    el = P[np.argsort(S)[-8:]]
    mu = 0.7 * mu + 0.3 * el.mean(0); sd = 0.7 * sd + 0.3 * el.std(0) + 0.02
    if S.max() > best[0]: best = (S.max(), P[S.argmax()].copy())
    if it % 5 == 0:
        tot, c, _ = rollout(best[1])
        print(it, round(time.time() - t0), "best", round(best[0], 2), c, "mean", round(S.mean(), 2), flush=True)
tot, c, rows = rollout(best[1], record=True)
np.save(f"cem_best_{H}.npy", best[1])
rows = np.array(rows)
print("final", tot, c, "min pitch", rows[:, 0].min(), "max h", rows[:, 1].max(), "max up v", rows[:, 4].max(), "min spin", rows[:, 5].min())
