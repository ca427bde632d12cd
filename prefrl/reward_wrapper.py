"""VecEnv wrapper that hands the agent r_hat instead of the environment's reward.

The environment's reward goes to ``info["true_reward"]`` (for evaluation and logging only);
the agent's reward is the reward model's r_hat(o, a) for the observation the action was
taken in (its entries ``obs_dims``, all with None; see ``prefrl.agents.reward_obs``). The model
can be swapped or refitted between steps. While ``explorer`` is set (unsupervised exploration
before the first labels, ``prefrl.explore``) the agent's reward is instead that intrinsic reward of
the state each step reaches. With ``bonus`` > 0 (RUNE, ``RunConfig.rune_beta``) the agent's reward
adds ``bonus`` times the spread of the ensemble members' rewards: exploration toward what the
reward model is unsure of.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
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
