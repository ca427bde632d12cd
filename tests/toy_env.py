"""A tiny, fast env for testing the loop: a point on a line that the agent pushes.

obs = (position, velocity); action in [-1, 1] accelerates it; true reward = position (so the
agent must learn to go right). ``reward_offset`` adds a constant to the true reward: a trap for
any code path that hands the env's reward to the agent. ``extra_obs`` appends a policy-only
entry (the position, scaled) that the reward model must not read: ``reward_obs`` is (0, 1).
"""

import gymnasium as gym
import numpy as np

import envs  # noqa: F401  (registers prefrl/* first)

EPISODE_STEPS = 40


class ToyLine(gym.Env):
    metadata = {"render_modes": []}
    dt = 0.05

    def __init__(self, reward_offset: float = 0.0, extra_obs: bool = False):
        self.extra_obs = extra_obs
        self.reward_obs = (0, 1) if extra_obs else None
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (3 if extra_obs else 2,), np.float64)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.reward_offset = reward_offset
        self.x = self.v = 0.0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.x, self.v = self.np_random.uniform(-0.5, 0.5), 0.0
        return self._obs(), self._info(0.0)

    def step(self, action):
        self.v = 0.8 * self.v + 0.2 * float(np.clip(action[0], -1, 1))
        self.x += self.v
        reward = self.x + self.reward_offset
        return self._obs(), reward, False, False, self._info(reward)

    def _obs(self):
        return np.array([self.x, self.v, 100.0 * self.x] if self.extra_obs else [self.x, self.v])

    def _info(self, reward):
        return {"reward_position": reward, "qpos": np.array([self.x]), "qvel": np.array([self.v])}


for name, kwargs in (("ToyLine", {}), ("ToyLineTrap", {"reward_offset": 1e6}),
                     ("ToyLineExtraObs", {"extra_obs": True})):
    if f"prefrl/{name}-v0" not in gym.registry:
        gym.register(f"prefrl/{name}-v0", entry_point=ToyLine, kwargs=kwargs, max_episode_steps=EPISODE_STEPS)
