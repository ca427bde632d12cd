"""Environments and SB3 agents for a run, and evaluation on the true reward."""

from __future__ import annotations

from typing import NamedTuple

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import A2C, PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

import envs
from prefrl.config import ConfigError, RunConfig, layer_widths

# Paper's discounting for MuJoCo (App. A.1); the rest are SB3 defaults scaled to n_envs.
PPO_KWARGS = {"n_steps": 256, "batch_size": 64, "gamma": 0.995, "gae_lambda": 0.97}
A2C_KWARGS = {"n_steps": 8, "gamma": 0.995, "gae_lambda": 0.97}


class InfoDummyVecEnv(DummyVecEnv):
    """SB3's DummyVecEnv without its per-step ``deepcopy`` of the info dicts, which here (each
    holds the simulator state and a dozen reward parts and facts) costs about 6% of a run. The
    envs build a fresh info dict, and fresh arrays, on every step (``envs.paper_tasks``); one
    shallow copy per step, kept in ``buf_infos`` and handed out, is replaced on the next step,
    so nothing handed out is written to later."""

    def step_wait(self):
        for i, env in enumerate(self.envs):
            obs, reward, terminated, truncated, info = env.step(self.actions[i])
            self.buf_rews[i], self.buf_dones[i] = reward, terminated or truncated
            info = self.buf_infos[i] = {**info, "TimeLimit.truncated": truncated and not terminated}
            if self.buf_dones[i]:
                info["terminal_observation"] = obs
                obs, self.reset_infos[i] = env.reset()
            self._save_obs(i, obs)
        return self._obs_from_buf(), np.copy(self.buf_rews), np.copy(self.buf_dones), list(self.buf_infos)


class TrainingHorizon(gym.Wrapper):
    """Truncates episodes after ``steps`` steps, before the task's own time limit, and (``down_steps``)
    once the body has been down for that many steps in a row: in the state in which the v5 task
    would have ended (``info["healthy"]`` 0; a task that does not report it is never down). The
    length may be changed while episodes run (``set_training_horizon``); an episode already past a
    new, shorter length ends at its next step. Both cuts are truncations, never terminations: the
    agent's value is bootstrapped there, so an episode's end says nothing about its reward."""

    def __init__(self, env: gym.Env, steps: int, down_steps: int | None = None):
        super().__init__(env)
        self.horizon, self.elapsed = steps, 0
        self.down_steps, self.down = down_steps, 0

    def set_horizon(self, steps: int) -> None:
        self.horizon = steps

    def reset(self, **kwargs):
        self.elapsed = self.down = 0
        return self.env.reset(**kwargs)

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.elapsed += 1
        if self.down_steps is not None:  # only runs that cut falls count the steps down
            self.down = 0 if info.get("healthy", 1.0) else self.down + 1
            truncated = truncated or self.down >= self.down_steps
        return obs, reward, terminated, truncated or self.elapsed >= self.horizon, info


def make_vec_env(env_name: str, n_envs: int, seed: int, episode_steps: int | None = None,
                 down_steps: int | None = None) -> VecEnv:
    """n_envs copies of ``prefrl/<env_name>-v0``, each in a Monitor (which records true returns);
    ``episode_steps``: truncate episodes there, ``down_steps``: truncate them once the body has been
    down that long (a ``TrainingHorizon``), instead of at the task's fixed length only."""
    env_id = envs.env_id(env_name)

    def make() -> gym.Env:
        env = gym.make(env_id)
        if not (episode_steps or down_steps):
            return Monitor(env)
        return Monitor(TrainingHorizon(env, episode_steps or env.spec.max_episode_steps, down_steps))

    venv = InfoDummyVecEnv([make for _ in range(n_envs)])
    venv.seed(seed)
    return venv


def set_training_horizon(venv: VecEnv, steps: int) -> None:
    """Make the episodes of a ``make_vec_env(..., episode_steps)`` env ``steps`` long from now on."""
    venv.env_method("set_horizon", steps)


def env_timing(env_name: str) -> tuple[float, int]:
    """(control timestep in seconds, fixed episode length in steps) of a task."""
    env = gym.make(envs.env_id(env_name))
    dt, length = env.unwrapped.dt, env.spec.max_episode_steps
    env.close()
    return dt, length


def reward_obs(env_name: str) -> tuple[int, ...] | None:
    """The observation entries a task's reward model reads (its env's ``reward_obs`` attribute),
    or None: all of them. A task sets it when the policy observes more than the teacher can judge
    from, e.g. ``prefrl/GraspCameraReward-v0``: the policy has depth and touch, the reward model
    only the judge camera's view."""
    env = gym.make(envs.env_id(env_name))
    dims = getattr(env.unwrapped, "reward_obs", None)
    env.close()
    return None if dims is None else tuple(int(d) for d in dims)


def reward_input_dim(env_name: str) -> int:
    """Inputs of a task's reward model: the observation entries it reads and the action."""
    env = gym.make(envs.env_id(env_name))
    dims = reward_obs(env_name)
    n = (env.observation_space.shape[0] if dims is None else len(dims)) + int(np.prod(env.action_space.shape))
    env.close()
    return n


DEFAULT_SEGMENT_SECONDS = 1.5
"""Segment length of tasks that are not paper tasks (the backflip, the grasp), in simulated seconds."""


def segment_steps(config: RunConfig) -> int:
    """Segment length in steps, at most one episode: ``segment_seconds`` of simulated time, or
    with 0 the task's default (a paper task's 15-60 steps, else 1.5 s)."""
    dt, length = env_timing(config.env)
    if config.segment_seconds:
        steps = round(config.segment_seconds / dt)
    else:
        steps = envs.default_segment_steps(config.env) or round(DEFAULT_SEGMENT_SECONDS / dt)
    return max(2, min(steps, length))


def training_episode_steps(config: RunConfig) -> int:
    """Length of the agent's training episodes: ``train_episode_steps``, or the task's own fixed
    length. Refused when longer than the task's episode or shorter than a segment (a clip must fit
    in one episode)."""
    _, length = env_timing(config.env)
    steps = config.train_episode_steps or length
    if steps > length:
        raise ConfigError(f"--train-episode-steps {steps} is longer than {config.env}'s episode of {length} steps: "
                          f"give at most {length} (0: the task's own)")
    if steps < (segment := segment_steps(config)):
        raise ConfigError(f"--train-episode-steps {steps} is shorter than a segment ({segment} steps): "
                          "give a longer one or shorten --segment-seconds")
    return steps


def training_down_steps(config: RunConfig) -> int | None:
    """``train_down_seconds`` in control steps (None: off). Refused when shorter than a segment (a
    fall's episode must still hold a clip)."""
    if not config.train_down_seconds:
        return None
    dt, _ = env_timing(config.env)
    steps = max(1, round(config.train_down_seconds / dt))
    if steps < (segment := segment_steps(config)):
        raise ConfigError(f"--train-down-seconds {config.train_down_seconds:g} is {steps} steps of {config.env}, "
                          f"shorter than a segment ({segment} steps): give at least {segment * dt:.3g}")
    return steps


def training_horizon(config: RunConfig, env_steps: int) -> int:
    """Length of the training episodes after ``env_steps`` steps of the run: ``training_episode_steps``,
    growing linearly to the task's own length over ``train_episode_growth`` x ``steps``."""
    start = training_episode_steps(config)
    if not config.train_episode_growth:
        return start
    _, length = env_timing(config.env)
    progress = min(1.0, env_steps / (config.train_episode_growth * config.steps))
    return round(start + progress * (length - start))


GSDE_LOG_STD_INIT = -2.0
"""Initial log std of gSDE's noise weights (rl-baselines3-zoo's choice for MuJoCo-like tasks): the
action noise is those weights times the policy's 64 latent features, so it starts near
exp(-2) * ||features||, about as large as the Gaussian default's."""


def exploration_kwargs(config: RunConfig, policy_kwargs: dict | None = None) -> dict:
    """SB3 keyword arguments for the run's exploration noise (``gsde_every``), merged into
    ``policy_kwargs``."""
    policy_kwargs = dict(policy_kwargs or {})
    if not config.gsde_every:
        return {"policy_kwargs": policy_kwargs} if policy_kwargs else {}
    policy_kwargs["log_std_init"] = GSDE_LOG_STD_INIT
    return {"use_sde": True, "sde_sample_freq": config.gsde_every, "policy_kwargs": policy_kwargs}


class StandardisedObs(BaseFeaturesExtractor):
    """The policy's first layer when ``RunConfig.obs_norm``: flat observations minus a running mean,
    over a running std, clipped to +-10 (as SB3's VecNormalize does it, but inside the policy: the
    statistics are buffers saved in policy.zip, so whatever loads the policy acts as it was trained,
    and the env, its recorder and the reward model keep raw observations)."""

    CLIP = 10.0

    def __init__(self, observation_space: gym.spaces.Box):
        super().__init__(observation_space, features_dim=int(np.prod(observation_space.shape)))
        n = self.features_dim
        self.register_buffer("mean", torch.zeros(n, dtype=torch.float64))
        self.register_buffer("var", torch.ones(n, dtype=torch.float64))
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        x = obs.flatten(1).float()
        return ((x - self.mean.float()) * torch.rsqrt(self.var.float() + 1e-8)).clamp(-self.CLIP, self.CLIP)

    @torch.no_grad()
    def update(self, total: np.ndarray, squares: np.ndarray, n: int) -> None:
        """Merge a batch given by its sum, sum of squares and size (Chan et al.'s parallel update)."""
        mean, var = total / n, np.maximum(squares / n - (total / n) ** 2, 0.0)
        count = float(self.count)
        delta, both = torch.as_tensor(mean) - self.mean, count + n
        m2 = self.var * count + torch.as_tensor(var) * n + delta**2 * count * n / both
        self.mean += delta * n / both
        self.var.copy_(m2 / both)
        self.count.fill_(both)


class ObsStatsCallback(BaseCallback):
    """Feeds the observations of each rollout to the policy's ``StandardisedObs`` layers, after
    the rollout's gradient steps, so that a rollout and the update that learns from it see the
    same standardisation (PPO's ratio compares the two)."""

    def __init__(self):
        super().__init__()
        self._batch: list[np.ndarray] = []

    def _on_step(self) -> bool:
        self._batch.append(np.asarray(self.locals["new_obs"], dtype=np.float64).reshape(self.training_env.num_envs, -1))
        return True

    def _on_rollout_start(self) -> None:  # the previous rollout's update is done by now
        self.flush()

    def _on_training_end(self) -> None:
        self.flush()

    def flush(self) -> None:
        if not self._batch:
            return
        obs = np.concatenate(self._batch)
        self._batch = []
        for layer in self.model.policy.modules():
            if isinstance(layer, StandardisedObs):
                layer.update(obs.sum(0), (obs**2).sum(0), len(obs))


def learn_callback(config: RunConfig) -> BaseCallback | None:
    """The callback ``agent.learn`` needs for these settings (``obs_norm``), or None."""
    return ObsStatsCallback() if config.obs_norm else None


def make_agent(config: RunConfig, venv: VecEnv, tensorboard_log: str | None, ppo_kwargs: dict | None = None,
               policy_kwargs: dict | None = None) -> BaseAlgorithm:
    """A new agent; a task may give its own PPO settings (``ppo_kwargs``, replacing ``PPO_KWARGS``)
    and ``policy_kwargs`` for Gaussian exploration (gSDE sets its own noise scale); a run's
    ``log_std_init``, ``gamma``, ``gae_lambda`` and network widths (``policy_layers``,
    ``value_layers``) replace the task's."""
    if config.algo == "ppo":
        cls, kwargs = PPO, PPO_KWARGS if ppo_kwargs is None else ppo_kwargs
    else:
        cls, kwargs = A2C, A2C_KWARGS
    kwargs = kwargs | {name: getattr(config, name) for name in ("gamma", "gae_lambda") if getattr(config, name)}
    if config.obs_norm:
        policy_kwargs = dict(policy_kwargs or {}, features_extractor_class=StandardisedObs)
    if config.log_std_init:
        policy_kwargs = dict(policy_kwargs or {}, log_std_init=config.log_std_init)
    if config.policy_layers or config.value_layers:
        default = [64, 64]  # SB3's MlpPolicy for both networks
        arch = {"pi": layer_widths(config.policy_layers) or default, "vf": layer_widths(config.value_layers) or default}
        policy_kwargs = dict(policy_kwargs or {}, net_arch=arch)
    return cls("MlpPolicy", venv, seed=config.seed, tensorboard_log=tensorboard_log, verbose=0,
               device="cpu", ent_coef=config.ent_coef, **kwargs, **exploration_kwargs(config, policy_kwargs))


def load_agent(config: RunConfig, path, venv: VecEnv, tensorboard_log: str | None) -> BaseAlgorithm:
    """An agent saved by ``BaseAlgorithm.save``, attached to ``venv``, its step count kept."""
    cls = PPO if config.algo == "ppo" else A2C
    return cls.load(path, env=venv, device="cpu", tensorboard_log=tensorboard_log)


def collect(agent: BaseAlgorithm, venv: VecEnv, steps: int) -> None:
    """Run the agent's current (stochastic) policy for ``steps`` env steps without learning
    (with gSDE its noise redrawn as often as in training)."""
    obs = venv.reset()
    for i in range(-(-steps // venv.num_envs)):
        if agent.use_sde and i % max(1, agent.sde_sample_freq) == 0:
            agent.policy.reset_noise(venv.num_envs)
        actions, _ = agent.predict(obs, deterministic=False)
        obs, _, _, _ = venv.step(actions)


def exploration_metrics(agent: BaseAlgorithm, sample: int = 512) -> dict[str, float]:
    """``train/action_std``: the policy's action noise (std of its action distribution, in action
    units, averaged over action dimensions) on up to ``sample`` states of its latest rollout. With
    gSDE it depends on the state, so it is measured where the agent has just been; a value that
    falls towards 0 means the agent has stopped exploring. Empty before the first rollout and for
    discrete actions."""
    buffer = getattr(agent, "rollout_buffer", None)
    if buffer is None or not buffer.full or not isinstance(agent.action_space, gym.spaces.Box):
        return {}
    obs = buffer.observations.reshape(-1, *buffer.obs_shape)
    rows = np.linspace(0, len(obs) - 1, min(sample, len(obs))).astype(int)
    with torch.no_grad():
        dist = agent.policy.get_distribution(torch.as_tensor(obs[rows], dtype=torch.float32))
    return {"train/action_std": float(dist.distribution.stddev.mean())}


def upside_down_share(upright) -> float:
    """Share of steps with the torso upside down: ``info["upright"]`` (cos of its pitch) below 0."""
    return float(np.mean(np.asarray(upright) < 0))


class Evaluation(NamedTuple):
    mean: float
    """Mean true return of the deterministic policy."""
    std: float
    upside_down: float | None
    """Share of steps with the torso upside down (``info["upright"]`` < 0); None for a task whose
    env does not report ``upright`` (only the planar bodies do)."""

    def metrics(self, prefix: str) -> dict[str, float]:
        """``{prefix}true_return``, ``{prefix}true_return_std`` and, where measured, ``{prefix}upside_down``."""
        out = {f"{prefix}true_return": self.mean, f"{prefix}true_return_std": self.std}
        return out if self.upside_down is None else out | {f"{prefix}upside_down": self.upside_down}


def evaluate(agent: BaseAlgorithm, env_name: str, episodes: int, seed: int) -> Evaluation:
    """The deterministic policy over ``episodes`` episodes: its true return, and how much of the time
    it spends upside down."""
    venv = make_vec_env(env_name, episodes, seed)
    upright: list[float] = []

    def record(local_vars: dict, _globals: dict) -> None:  # each counted step of each env
        if "upright" in local_vars["info"]:
            upright.append(local_vars["info"]["upright"])

    returns, _ = evaluate_policy(agent, venv, n_eval_episodes=episodes, deterministic=True,
                                 return_episode_rewards=True, callback=record)
    venv.close()
    upside_down = upside_down_share(upright) if upright else None
    return Evaluation(float(np.mean(returns)), float(np.std(returns)), upside_down)
