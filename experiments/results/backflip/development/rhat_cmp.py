import os, sys, json
os.environ.setdefault("MUJOCO_GL", "egl")
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[4]))  # the repository
import numpy as np, torch, gymnasium as gym
from stable_baselines3 import PPO
import envs
from prefrl.reward_model import RewardEnsemble
from synthetic_oracle.backflip import count_flips
run = sys.argv[1]; pols = sys.argv[2:]
import os.path
rm = f"{run}/reward_model.npz" if os.path.exists(f"{run}/reward_model.npz") else f"{run}/checkpoint/reward_model.npz"
model = RewardEnsemble.from_npz(open(rm, "rb").read())
env = gym.make("prefrl/HopperBackflip-v0")
for pol in pols:
    agent = PPO.load(f"{pol}/policy.zip" if os.path.exists(f"{pol}/policy.zip") else f"{pol}/checkpoint/policy.zip", device="cpu")
    R, T = [], []
    for ep in range(4):
        obs, _ = env.reset(seed=100 + ep); done = False; feats = []; tr = 0
        while not done:
            a, _ = agent.predict(obs, deterministic=True)
            feats.append(np.concatenate([obs, a]))
            obs, r, te, tu, info = env.step(a); done = te or tu; tr += r
        with torch.no_grad():
            rh = model(torch.as_tensor(np.array(feats), dtype=torch.float32)).numpy()
        R.append(rh.sum()); T.append(tr)
    print(pol, "r_hat return %.1f" % np.mean(R), "true %.1f" % np.mean(T))
