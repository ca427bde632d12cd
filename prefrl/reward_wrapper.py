"""VecEnv wrapper that hands the agent r_hat instead of the environment's reward.

The environment's reward goes to ``info["true_reward"]`` (for evaluation and logging only);
the agent's reward is the reward model's r_hat(o, a) for the observation the action was
taken in (its entries ``obs_dims``, all with None; see ``prefrl.agents.reward_obs``). The model
can be swapped or refitted between steps. While ``explorer`` is set (unsupervised exploration
before the first labels, ``prefrl.explore``) the agent's reward is instead that intrinsic reward of
the state each step reaches. With ``bonus`` > 0 (RUNE, ``RunConfig.rune_beta``) the agent's reward
adds ``bonus`` times the spread of the ensemble members' rewards: exploration toward what the
reward model is unsure of.

Also here: the true-reward baseline's counterpart, ``ScaledTrueRewardWrapper``, and
``ReturnScaledReward``, which scales whichever reward the agent learns by its return's running std.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from stable_baselines3.common.running_mean_std import RunningMeanStd
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper

from prefrl.explore import StateEntropyReward
from prefrl.reward_model import RewardEnsemble
from prefrl.run_dir import CpuClock
from prefrl.segments import reward_features


class LearnedRewardWrapper(VecEnvWrapper):
    def __init__(self, venv: VecEnv, reward_model: RewardEnsemble, obs_dims: Sequence[int] | None = None):
        super().__init__(venv)
        self.reward_model = reward_model
        self.obs_dims = obs_dims
        self._last_obs: np.ndarray | None = None
        self._actions: np.ndarray | None = None
        self.r_hat_sum = 0.0
        self.r_hat_count = 0
        self.explorer: StateEntropyReward | None = None
        self.bonus = 0.0  # weight of the members' disagreement added to r_hat (the trainer sets it per chunk)
        self.bonus_sum = 0.0
        self.clock = CpuClock()  # CPU time computing the agent's reward; the trainer hands in its run's clock

    def reset(self):
        self._last_obs = self.venv.reset()
        return self._last_obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions)
        self.venv.step_async(actions)

    def step_wait(self):
        obs, true_rewards, dones, infos = self.venv.step_wait()
        for info, r in zip(infos, true_rewards, strict=True):
            info["true_reward"] = float(r)
        start = time.process_time()
        if self.explorer is not None:
            reached = np.stack([info.get("terminal_observation", o) if d else o
                                for o, d, info in zip(obs, dones, infos, strict=True)])
            rewards = self.explorer(reached).astype(np.float32)
        else:
            features = reward_features(self._last_obs, self._actions.reshape(self.num_envs, -1), self.obs_dims)
            members = self.reward_model.predict_members(features)
            r_hat = members.mean(axis=0)
            self.r_hat_sum += float(r_hat.sum())
            self.r_hat_count += self.num_envs
            if self.bonus:
                bonus = self.bonus * members.std(axis=0)
                self.bonus_sum += float(bonus.sum())
                r_hat = r_hat + bonus
            rewards = r_hat.astype(np.float32)
        self._last_obs = obs
        self.clock.add("reward_per_step", time.process_time() - start)
        return obs, rewards, dones, infos

    def pop_means(self) -> tuple[float, float]:
        """Mean r_hat and mean RUNE bonus handed out per step since the last call (nan if no step was)."""
        n = self.r_hat_count or float("nan")
        means = self.r_hat_sum / n, self.bonus_sum / n
        self.r_hat_sum, self.bonus_sum, self.r_hat_count = 0.0, 0.0, 0
        return means


class ScaledTrueRewardWrapper(VecEnvWrapper):
    """The baseline's counterpart of ``LearnedRewardWrapper``: the agent learns the environment's
    reward standardised, ``(r - mean) / std``, with the statistics set by ``renormalise`` (the
    trainer calls it on recent behaviour after each chunk, as it renormalises r_hat), so that
    the two runs differ only in where the reward comes from, not in its scale. The unscaled
    reward goes to ``info["true_reward"]``."""

    def __init__(self, venv: VecEnv):
        super().__init__(venv)
        self.mean, self.std = 0.0, 1.0

    def renormalise(self, rewards: np.ndarray, target_std: float = 1.0) -> None:
        """The agent's reward to mean 0, std ``target_std`` on ``rewards``."""
        self.mean, self.std = float(np.mean(rewards)), (float(np.std(rewards)) + 1e-8) / target_std

    def reset(self):
        return self.venv.reset()

    def step_wait(self):
        obs, true_rewards, dones, infos = self.venv.step_wait()
        for info, r in zip(infos, true_rewards, strict=True):
            info["true_reward"] = float(r)
        return obs, ((true_rewards - self.mean) / self.std).astype(np.float32), dones, infos


class ReturnScaledReward(VecEnvWrapper):
    """The agent's reward, whatever it is (r_hat, the true reward), divided by the running std of its
    discounted return and clipped to +-``clip``: SB3's ``VecNormalize`` reward normalisation, as
    rl-baselines3-zoo's MuJoCo settings and most PPO implementations use it (``RunConfig.return_norm``).
    Without it the value targets of a 1000-step task run to tens or hundreds, and the value loss's
    gradient is many times the policy's (74x, median over minibatches, on Walker2d's true reward after
    40k steps: ``python -m experiments.grad_balance``), so the one clip of the whole gradient (to norm
    0.5) scales the policy's step by the value loss. Only the reward the agent learns from changes:
    the envs' infos and the recorded clips are untouched. ``gamma`` must be the agent's discount (set
    after it is made)."""

    def __init__(self, venv: VecEnv, gamma: float = 0.99, clip: float = 10.0):
        super().__init__(venv)
        self.gamma, self.clip = gamma, clip
        self.stats = RunningMeanStd(shape=())
        self.returns = np.zeros(venv.num_envs)

    def reset(self):
        self.returns[:] = 0.0
        return self.venv.reset()

    def step_wait(self):
        obs, rewards, dones, infos = self.venv.step_wait()
        self.returns = self.returns * self.gamma + rewards
        self.stats.update(self.returns)
        scaled = np.clip(rewards / np.sqrt(self.stats.var + 1e-8), -self.clip, self.clip)
        self.returns[dones] = 0.0
        return obs, scaled.astype(np.float32), dones, infos

    def state(self) -> dict[str, Any]:
        """What a checkpoint keeps, so that a resumed run scales as the killed one did."""
        return {"mean": float(self.stats.mean), "var": float(self.stats.var), "count": float(self.stats.count),
                "returns": self.returns.tolist()}

    def load_state(self, state: dict[str, Any]) -> None:
        self.stats.mean, self.stats.var, self.stats.count = state["mean"], state["var"], state["count"]
        self.returns = np.asarray(state["returns"], dtype=np.float64)
