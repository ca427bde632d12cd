"""Unsupervised exploration before the first labels (PEBBLE, Lee et al. 2021, §4.1).

With ``explore_steps`` the agent first learns an intrinsic reward that pays for reaching states
unlike its recent ones, so that the clips of the first queries show varied behaviour instead of
the initial policy's twitching. The reward is a particle estimate of state entropy: the
distance from the state reached to its k-th nearest neighbour among recently visited states,
``log(1 + d_k)``, with each observation entry standardised over the recent states; it is
divided by a running estimate of its own standard deviation so that its scale does not depend
on the task. No true reward, no labels and no reward model enter it.
"""

from __future__ import annotations

import numpy as np
import torch

K = 5  # neighbour whose distance is paid (PEBBLE's k)
CAPACITY = 10_000  # recent states kept as the reference set


class StateEntropyReward:
    """``reward(states)`` for a batch of states (n, d): each one's k-NN distance reward against
    the states seen before the call; the batch then joins the reference set (a ring buffer of
    the latest ``capacity`` states). Zero until the set holds more than ``k`` states."""

    def __init__(self, dim: int, k: int = K, capacity: int = CAPACITY):
        self.k, self.capacity = k, capacity
        self.states = torch.zeros(capacity, dim)
        self.size = self.next = 0
        # running mean/variance of the raw rewards (Welford / Chan), for the scale
        self.count, self.mean, self.m2 = 0, 0.0, 0.0

    def raw(self, states: np.ndarray) -> np.ndarray:
        """``log(1 + d_k)`` of each state against the reference set, before scaling."""
        if self.size <= self.k:
            return np.zeros(len(states))
        ref = self.states[: self.size]
        scale = ref.std(dim=0) + 1e-6
        dist = torch.cdist(torch.as_tensor(states, dtype=torch.float32) / scale, ref / scale)
        d_k = dist.topk(self.k, dim=1, largest=False).values[:, -1]
        return torch.log1p(d_k).double().numpy()

    def __call__(self, states: np.ndarray) -> np.ndarray:
        had_reference = self.size > self.k
        r = self.raw(states)
        self.add(states)
        if had_reference:
            self.update_scale(r)
        std = np.sqrt(self.m2 / self.count) if self.count > 1 else 1.0
        return r / max(std, 1e-8)

    def add(self, states: np.ndarray) -> None:
        states = torch.as_tensor(states, dtype=torch.float32)[-self.capacity:]
        self.states[(self.next + torch.arange(len(states))) % self.capacity] = states
        self.next = (self.next + len(states)) % self.capacity
        self.size = min(self.size + len(states), self.capacity)

    def update_scale(self, r: np.ndarray) -> None:
        n, mean, m2 = len(r), float(r.mean()), float(((r - r.mean()) ** 2).sum())
        total = self.count + n
        delta = mean - self.mean
        self.mean += delta * n / total
        self.m2 += m2 + delta**2 * self.count * n / total
        self.count = total
