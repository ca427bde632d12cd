"""Segments: short clips of the agent's own behaviour, recorded so they can be judged and replayed.

A :class:`SegmentRecorder` sits in the agent's VecEnv stack and keeps its recent episodes;
:func:`sample_segments` cuts random windows out of them. Each segment keeps, per step, the
observation the action was taken in, the action, the true reward (never shown to the learner;
only to synthetic oracles and evaluation), the physical facts the env reported in ``info`` and
the simulator state (qpos/qvel) for rendering.
"""

from __future__ import annotations

import io
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper

# Info entries that are bookkeeping of gymnasium/SB3, not facts about the body.
_NOT_FACTS = {"terminal_observation", "TimeLimit.truncated", "episode", "true_reward", "qpos", "qvel"}


def reward_features(obs: np.ndarray, actions: np.ndarray, obs_dims: Sequence[int] | None = None) -> np.ndarray:
    """Reward-model input: the observation's entries ``obs_dims`` (all with None; see
    ``prefrl.agents.reward_obs``) and the action, per step. (..., obs_dim), (..., act_dim) -> (..., in_dim)"""
    seen = obs if obs_dims is None else obs[..., list(obs_dims)]
    return np.concatenate([seen, actions], axis=-1).astype(np.float32)


@dataclass(frozen=True)
class Segment:
    """T consecutive steps of one episode."""

    obs: np.ndarray  # (T, obs_dim): observation each action was taken in
    actions: np.ndarray  # (T, act_dim)
    true_reward: np.ndarray  # (T,)
    qpos: np.ndarray  # (T, nq): simulator state after each step
    qvel: np.ndarray  # (T, nv)
    facts: Mapping[str, np.ndarray] = field(default_factory=dict)  # name -> (T,) or (T, k)
    env_steps: int = 0
    """Agent's environment steps when the segment was recorded."""

    def __post_init__(self):
        t = len(self.obs)
        for name in ("actions", "true_reward", "qpos", "qvel", *self.facts):
            arr = self.facts[name] if name in self.facts else getattr(self, name)
            if len(arr) != t:
                raise ValueError(f"segment field {name!r} has {len(arr)} steps, obs has {t}")

    @property
    def length(self) -> int:
        return len(self.obs)

    @property
    def true_return(self) -> float:
        return float(self.true_reward.sum())

    def features(self, obs_dims: Sequence[int] | None = None) -> np.ndarray:
        """Reward-model input per step (:func:`reward_features`). (T, in_dim)"""
        return reward_features(self.obs, self.actions, obs_dims)

    def to_npz(self) -> bytes:
        arrays = {
            "obs": self.obs,
            "actions": self.actions,
            "true_reward": self.true_reward,
            "qpos": self.qpos,
            "qvel": self.qvel,
            "env_steps": np.array(self.env_steps),
        }
        arrays |= {f"fact_{k}": v for k, v in self.facts.items()}
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        return buf.getvalue()

    @classmethod
    def from_npz(cls, data: bytes) -> Segment:
        with np.load(io.BytesIO(data)) as z:
            facts = {k.removeprefix("fact_"): z[k] for k in z.files if k.startswith("fact_")}
            return cls(
                obs=z["obs"],
                actions=z["actions"],
                true_reward=z["true_reward"],
                qpos=z["qpos"],
                qvel=z["qvel"],
                facts=facts,
                env_steps=int(z["env_steps"]),
            )


@dataclass
class EpisodeRecord:
    """One episode as it is recorded, step by step; :meth:`freeze` makes it a :class:`Segment`."""

    obs: list = field(default_factory=list)
    actions: list = field(default_factory=list)
    rewards: list = field(default_factory=list)
    qpos: list = field(default_factory=list)
    qvel: list = field(default_factory=list)
    facts: dict = field(default_factory=dict)

    def append(self, obs, action, reward, info) -> None:
        self.obs.append(obs)
        self.actions.append(action)
        self.rewards.append(reward)
        self.qpos.append(info["qpos"])
        self.qvel.append(info["qvel"])
        for k, v in info.items():
            if k not in _NOT_FACTS and np.ndim(v) <= 1:
                self.facts.setdefault(k, []).append(v)

    def freeze(self, env_steps: int) -> Segment:
        return Segment(
            obs=np.asarray(self.obs, np.float32),
            actions=np.asarray(self.actions, np.float32),
            true_reward=np.asarray(self.rewards, np.float64),
            qpos=np.asarray(self.qpos),
            qvel=np.asarray(self.qvel),
            facts={k: np.asarray(v) for k, v in self.facts.items() if len(v) == len(self.obs)},
            env_steps=env_steps,
        )


class SegmentRecorder(VecEnvWrapper):
    """Keeps the last ``keep_episodes`` complete episodes of the agent (true reward included).

    The env's own reward passes through unchanged; put a reward wrapper outside this one.
    """

    def __init__(self, venv: VecEnv, keep_episodes: int = 32):
        super().__init__(venv)
        self.episodes: deque[Segment] = deque(maxlen=keep_episodes)
        self.env_steps = 0
        self._current = [EpisodeRecord() for _ in range(venv.num_envs)]
        self._last_obs: np.ndarray | None = None
        self._actions: np.ndarray | None = None

    def keep(self, episodes: int) -> None:
        """Keep the last ``episodes`` episodes from now on (the newest of those already kept stay)."""
        self.episodes = deque(self.episodes, maxlen=episodes)

    def reset(self):
        self._current = [EpisodeRecord() for _ in range(self.num_envs)]
        self._last_obs = self.venv.reset()
        return self._last_obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions)
        self.venv.step_async(actions)

    def step_wait(self):
        obs, rewards, dones, infos = self.venv.step_wait()
        self.env_steps += self.num_envs
        for i in range(self.num_envs):
            self._current[i].append(self._last_obs[i], self._actions[i], rewards[i], infos[i])
            if dones[i]:
                self.episodes.append(self._current[i].freeze(self.env_steps))
                self._current[i] = EpisodeRecord()
        self._last_obs = obs
        return obs, rewards, dones, infos

    def clear(self) -> None:
        """Forget recorded episodes (e.g. after the policy has changed)."""
        self.episodes.clear()


def cut(episode: Segment, start: int, length: int) -> Segment:
    """The window ``[start, start + length)`` of a recorded episode."""
    sl = slice(start, start + length)
    return Segment(
        obs=episode.obs[sl],
        actions=episode.actions[sl],
        true_reward=episode.true_reward[sl],
        qpos=episode.qpos[sl],
        qvel=episode.qvel[sl],
        facts={k: v[sl] for k, v in episode.facts.items()},
        env_steps=episode.env_steps,
    )


def sample_segments(
    episodes: list[Segment], n: int, length: int, rng: np.random.Generator
) -> list[Segment]:
    """``n`` windows of ``length`` steps, each from a uniformly chosen episode and start."""
    usable = [e for e in episodes if e.length >= length]
    if not usable:
        raise ValueError(f"no recorded episode holds a segment of {length} steps; record more first")
    picks = rng.integers(len(usable), size=n)
    return [cut(usable[i], int(rng.integers(usable[i].length - length + 1)), length) for i in picks]
