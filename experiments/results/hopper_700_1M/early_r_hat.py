"""How a Hopper preference run's reward model, fitted on only its first n labels, ranks a few policies.

    python experiments/results/hopper_700_1M/early_r_hat.py [--labels 175,350,700] [--fits 2] > early_r_hat.json
    python experiments/results/hopper_700_1M/early_r_hat.py --input-norm labelled > early_r_hat_inputnorm.json

Needs the run's ``labels.sqlite`` (not committed, 22 MB: re-run seed 3 with the README's sweep
command to regenerate it). Refits a fresh ensemble on the first n training labels (the paper's
first fit: 500 minibatch steps), normalises it on all the policies' rollouts together, and prints
for each policy (one 1000-step episode, stochastic actions, same start) its true return, r_hat
return, mean torso height and forward velocity, and the share of the (best - random) range that
separates the best policy from the second best, under the truth and under each r_hat: how strongly
each reward model says "run tall, don't dive" compared with the true reward.
"""

import argparse
import json
import os
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from stable_baselines3 import PPO  # noqa: E402

import envs  # noqa: E402
from prefrl.reward_model import FitConfig, PreferenceData, RewardEnsemble, RewardTrainer  # noqa: E402
from prefrl.segments import reward_features  # noqa: E402
from prefrl.store import LabelStore  # noqa: E402

HERE = Path(__file__).parent
RESULTS = HERE.parent
parser = argparse.ArgumentParser()
parser.add_argument("--run", type=Path, default=HERE / "runs/Hopper_700_disagreement_perfect_s3")
parser.add_argument("--policies", nargs="+", type=Path, default=[
    HERE / "runs/Hopper_true_s3", RESULTS / "frozen_r_hat_1M/runs/Hopper_frozen_s3",
    HERE / "runs/Hopper_700_disagreement_perfect_s3"])
parser.add_argument("--labels", default="175,350,700", help="first n labels to fit on, comma-separated")
parser.add_argument("--fits", type=int, default=2, help="independent fits per n")
parser.add_argument("--input-norm", choices=["none", "labelled"], default="none",
                    help="labelled: standardise the reward model's inputs on the labelled segments before fitting "
                         "(the runs' --overrides input_norm=labelled)")
ns = parser.parse_args()
torch.set_num_threads(1)

if not (ns.run / "labels.sqlite").exists():
    raise SystemExit(f"{ns.run / 'labels.sqlite'} not found: re-run that run (README) to regenerate it")
store = LabelStore(ns.run / "labels.sqlite")
labelled = list(store.training_labels())

env = gym.make(envs.env_id("Hopper"))
rollouts = {}
for policy in [*ns.policies, "random"]:
    agent = None if policy == "random" else PPO.load(policy / "policy.zip", device="cpu")
    env.action_space.seed(0)
    obs, _ = env.reset(seed=1)
    observations, actions, rewards, heights, forward = [], [], [], [], []
    for _ in range(1000):
        action = env.action_space.sample() if agent is None else agent.predict(obs, deterministic=False)[0]
        observations.append(obs)
        actions.append(action)
        obs, reward, _, _, info = env.step(action)
        rewards.append(reward)
        heights.append(info["height"])
        forward.append(info["reward_forward"])
    name = policy if policy == "random" else policy.name
    rollouts[name] = {"x": reward_features(np.array(observations), np.array(actions)),
                      "true_return": float(np.sum(rewards)), "torso_height": float(np.mean(heights)),
                      "forward_velocity": float(np.mean(forward))}
env.close()


def top_gap_share(returns: dict[str, float]) -> float:
    """(best - second best) / (best - random): how much of the reward's range says 'the best one'."""
    ordered = sorted((v for k, v in returns.items() if k != "random"), reverse=True)
    return (ordered[0] - ordered[1]) / (ordered[0] - returns["random"])


everything = np.concatenate([r["x"] for r in rollouts.values()])
truth = {k: r["true_return"] for k, r in rollouts.items()}
fits = []
for n in (int(x) for x in ns.labels.split(",")):
    sub = labelled[:n]
    left = np.stack([store.segment(q.left_id).features(None) for q, _ in sub])
    right = np.stack([store.segment(q.right_id).features(None) for q, _ in sub])
    targets = np.array([label.choice.target for _, label in sub], np.float32)
    for fit in range(ns.fits):
        rng = np.random.default_rng(fit)
        torch.manual_seed(fit)
        model = RewardEnsemble(left.shape[-1])
        data = PreferenceData.empty(model.members, left.shape[1], left.shape[-1])
        data.extend(left, right, targets, rng)
        if ns.input_norm == "labelled":
            model.standardise_inputs(data.steps(), keep_function=False)
        RewardTrainer(model, FitConfig()).fit(data, 500, rng)
        model.normalise(torch.as_tensor(everything))
        r_hat = {k: float(model.predict(r["x"]).sum()) for k, r in rollouts.items()}
        fits.append({"labels": n, "fit": fit, "r_hat_return": r_hat, "top_gap_share": top_gap_share(r_hat)})
print(json.dumps({
    "run": str(ns.run),
    "input_norm": ns.input_norm,
    "policies": {k: {key: v for key, v in r.items() if key != "x"} for k, r in rollouts.items()},
    "true_top_gap_share": top_gap_share(truth),
    "fits": fits,
}, indent=2))
