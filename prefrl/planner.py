"""Planning on the learned reward, then imitating the plans: exploration that needs no slope.

PPO improves a policy step by step along r_hat's slope. When r_hat rates a behaviour's whole
clip well but pays nothing on the way to it (the backflip: r_hat learned from a few hundred
comparisons ranks flipping episodes above falls, yet per step it does not lead from standing to
a take-off), PPO never gets there. The cross-entropy method (CEM) over open-loop action plans
needs only the ranking of whole rollouts, and its plans are smooth, correlated motions from the
first iteration on. With ``--plan-iterations I`` a run does this after its pretraining labels
and before RL:

    I times: draw CANDIDATES plans (action knots every KNOT_STEPS steps, linearly interpolated)
             from a Gaussian -> roll each out in the task's real env from a reset
             -> rate each rollout by r_hat's return (each member's) -> refit the Gaussian to the
             ELITES best by the members' mean, smoothed
             -> ask the teacher ``--plan-queries`` pairs: each of the plans r_hat rates most
             optimistically (mean + spread over the members; ``queries.py``'s optimistic
             measure), as its best-rated clip, against a random other plan's best-rated clip
             -> refit r_hat on every label so far
             (``--plan-elites teacher``: the teacher's answers choose the elites instead. The
             2 x ``--plan-queries`` plans r_hat rates most optimistically are paired at random, the
             teacher answers each pair, and the Gaussian is refitted to the winners: r_hat only
             shortlists, so the search climbs the teacher's preferences, as the labels' 1 bit each
             is spent both on moving the search and on fitting r_hat)
    then: DISTIL_ROLLOUTS rollouts of plans near the final Gaussian's mean (DISTIL_STD_SCALE of
          its std); the policy's mean action is fitted to the actions of the DISTIL_KEEP that
          r_hat rates best (behaviour cloning of the planner), and RL on r_hat takes over with the
          remaining labels and steps.

The teacher sees the planner's clips as it sees the agent's (same segment length, same store);
so the labels follow the planner to the edge of what r_hat knows, where a policy that never took
off would never show it. Every planner step is an env step: the run's step count includes them.
No true reward is read: rollouts are rated by r_hat, and the env's reward is only recorded in
the clips, for the synthetic teacher and the metrics (``plan/true_return``), as everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import gymnasium as gym
import numpy as np
import torch

import envs
from prefrl.segments import EpisodeRecord, Segment, cut
from prefrl.teachers import Choice

CANDIDATES = 64  # plans rolled out per iteration
ELITES = 8  # best-rated plans the Gaussian is refitted to
KNOT_STEPS = 10  # env steps between action knots (0.08 s on the Hopper)
PLAN_SECONDS = 2.0  # simulated time of a plan, capped at the task's episode
INIT_STD = 0.8  # the plans' initial std per knot (actions lie in [-1, 1])
SMOOTHING = 0.3  # share of the elites' mean and std in each refit of the Gaussian
STD_FLOOR = 0.02  # added to the std at each refit: the search never collapses
DISTIL_ROLLOUTS = 32  # rollouts of the final Gaussian offered to behaviour cloning
DISTIL_STD_SCALE = 0.3  # their plans' spread, as a share of the Gaussian's std (see ``distil``)
DISTIL_KEEP = 16  # of which the best-rated are imitated
DISTIL_STEPS = 2000  # behaviour-cloning minibatch steps
DISTIL_BATCH = 256
DISTIL_LR = 1e-3

MemberReturns = Callable[[Sequence[Segment]], np.ndarray]
"""Each reward-model member's return of each rollout: (N segments) -> (M, N)."""


class KnotPlanner:
    """CEM over open-loop plans of ``horizon`` steps in ``env_name``, from the env's reset."""

    def __init__(self, env_name: str, horizon: int, rng: np.random.Generator):
        self.env = gym.make(envs.env_id(env_name))
        self.horizon = horizon
        self.knots = -(-(horizon - 1) // KNOT_STEPS) + 1
        self.act_low, self.act_high = self.env.action_space.low, self.env.action_space.high
        self.act_dim = self.env.action_space.shape[0]
        self.mean = np.zeros((self.knots, self.act_dim))
        self.std = np.full((self.knots, self.act_dim), INIT_STD)
        self.rng = rng

    def close(self) -> None:
        self.env.close()

    def actions(self, plan: np.ndarray) -> np.ndarray:
        """A plan's (knots, act_dim) linearly interpolated to (horizon, act_dim), clipped to the
        action space."""
        t = np.arange(self.horizon) / KNOT_STEPS
        grid = np.arange(self.knots)
        steps = np.stack([np.interp(t, grid, plan[:, j]) for j in range(self.act_dim)], axis=1)
        return np.clip(steps, self.act_low, self.act_high)

    def rollout(self, plan: np.ndarray, seed: int, env_steps: int) -> Segment:
        """One plan played open-loop from ``env.reset(seed=seed)``, recorded as a Segment (shorter
        than the horizon if the episode ends first)."""
        record = EpisodeRecord()
        obs, _ = self.env.reset(seed=seed)
        for action in self.actions(plan):
            next_obs, reward, terminated, truncated, info = self.env.step(action)
            record.append(obs, action, reward, info)
            obs = next_obs
            if terminated or truncated:
                break
        return record.freeze(env_steps)

    def sample(self, n: int, std_scale: float = 1.0) -> np.ndarray:
        """``n`` plans from the current Gaussian. (n, knots, act_dim)"""
        return self.mean + std_scale * self.std * self.rng.standard_normal((n, *self.mean.shape))

    def roll(self, plans: np.ndarray, env_steps: int) -> list[Segment]:
        """Each plan rolled out from its own reset (seeds drawn from the planner's rng)."""
        seeds = self.rng.integers(2**31, size=len(plans))
        return [self.rollout(p, int(s), env_steps) for p, s in zip(plans, seeds, strict=True)]

    def refit(self, plans: np.ndarray, rating: np.ndarray) -> None:
        """Move the Gaussian toward the ``ELITES`` best-rated plans."""
        self.refit_to(plans[np.argsort(rating)[-ELITES:]])

    def refit_to(self, elites: np.ndarray) -> None:
        """Move the Gaussian toward ``elites`` (n, knots, act_dim), n >= 2."""
        self.mean = (1 - SMOOTHING) * self.mean + SMOOTHING * elites.mean(axis=0)
        self.std = (1 - SMOOTHING) * self.std + SMOOTHING * elites.std(axis=0) + STD_FLOOR


def best_window(segment: Segment, length: int, step_reward: Callable[[Segment], np.ndarray]) -> Segment:
    """The ``length``-step window of ``segment`` with the largest summed ``step_reward`` (T,)."""
    if segment.length <= length:
        return segment
    r = np.concatenate([[0.0], np.cumsum(step_reward(segment))])
    sums = r[length:] - r[:-length]
    return cut(segment, int(np.argmax(sums)), length)


def optimistic_order(member_returns: np.ndarray) -> np.ndarray:
    """Rollouts by their members' mean return plus spread, best first. (M, N) -> (N,)"""
    return np.argsort(-(member_returns.mean(axis=0) + member_returns.std(axis=0)), kind="stable")


def query_pairs(member_returns: np.ndarray, n: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    """``n`` pairs of rollouts to ask about: each of the ``n`` rated most optimistically against
    a random other rollout."""
    count = member_returns.shape[1]
    pairs = []
    for i in optimistic_order(member_returns)[:n]:
        other = int(rng.integers(count - 1))
        pairs.append((int(i), other + (other >= i)))
    return pairs


def teacher_pairs(member_returns: np.ndarray, n: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    """``n`` disjoint pairs for the teacher to choose elites from (``--plan-elites teacher``): the
    ``2 n`` rollouts rated most optimistically, paired at random."""
    top = optimistic_order(member_returns)[: 2 * n]
    top = top[rng.permutation(len(top))]
    return [(int(a), int(b)) for a, b in zip(top[:n], top[n:], strict=True)]


def winners(pairs: Sequence[tuple[int, int]], choices: Sequence[Choice], rng: np.random.Generator) -> list[int]:
    """The rollout the teacher chose from each pair; a tie or a skip picks one of the two at random."""
    out = []
    for (a, b), choice in zip(pairs, choices, strict=True):
        target = choice.target
        out.append(a if target == 1.0 else b if target == 0.0 else (a, b)[int(rng.integers(2))])
    return out


def distil(agent, segments: Sequence[Segment], rng: np.random.Generator, steps: int = DISTIL_STEPS) -> float:
    """Behaviour cloning: fit the policy's mean action (its deterministic action) to the actions
    of ``segments`` in their observations (mean squared error, Adam). Returns the last minibatch's
    loss. The value function is left to RL.

    The segments should be rollouts of plans near one plan, perturbed a little (as DART perturbs
    a demonstrator): the states around the path are covered and the actions agree. Measured with
    the planner rated by the oracle's score on the history backflip
    (experiments/results/backflip/development/plan_distil.py): after 40 iterations (20% of the
    batch flipping), cloning the 16 best of 32 full-spread rollouts (10 of them flips) gave a policy
    that never flipped in 20 episodes, the 16 best at 0.3 of the spread (all flips) one that flipped
    in 7 of 20; after 60 iterations (66% flipping) every choice, full spread included, flipped in
    20 of 20: cloning averages the plans it is given, and plans that disagree average to no flip.
    """
    policy = agent.policy
    obs = torch.as_tensor(np.concatenate([s.obs for s in segments]), dtype=torch.float32)
    actions = torch.as_tensor(np.concatenate([s.actions for s in segments]), dtype=torch.float32)
    optimizer = torch.optim.Adam(policy.parameters(), lr=DISTIL_LR)
    policy.set_training_mode(True)
    loss = torch.zeros(())
    for _ in range(steps):
        idx = torch.as_tensor(rng.integers(len(obs), size=DISTIL_BATCH))
        mean_action = policy.get_distribution(obs[idx]).mode()
        loss = ((mean_action - actions[idx]) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    policy.set_training_mode(False)
    return loss.item()
