"""The reward model: an ensemble of r_hat(o, a) predictors fitted to preference labels.

As in the paper (§2.2.3, App. A): 3 members, 2 hidden layers of 64 units with leaky ReLU
(0.01); each member trained on its own bootstrap sample, with 1/e of the labels held out for
its validation; l2 strength adapted to keep validation loss between 1.1x and 1.5x training
loss; a 10% chance of a uniformly random answer in the Bradley-Terry likelihood; each member
normalised to mean 0, std 1 on recent behaviour, then averaged. Optionally (not in the paper)
the inputs are standardised too (``standardise_inputs``), so that the l2 penalty and the
optimiser treat a feature with a small spread, such as the Hopper's torso height, like one with
a large spread, such as its joint velocities.

The members are stacked into batched weight tensors, so one forward pass evaluates them all.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

VAL_FRACTION = 1 / math.e
INPUT_STD_FLOOR = 0.1
"""Smallest std an input is divided by when inputs are standardised: a feature that barely varies
in the labelled data (e.g. a floor contact not yet seen) is magnified at most 10x, so when it
does change later r_hat does not swing on weights that were never fitted."""
L2_BAND = (1.1, 1.5)  # wanted range of validation loss / training loss


# ---------------------------------------------------------------- pure math
def segment_returns(rewards: torch.Tensor) -> torch.Tensor:
    """Undiscounted sum over the segment. (..., T) -> (...)"""
    return rewards.sum(dim=-1)


def preference_log_probs(logits: torch.Tensor, noise: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    """log P[left > right] and log P[right > left] under Bradley-Terry with random answers.

    logits = return(left) - return(right). With probability ``noise`` the teacher answers
    uniformly at random: p' = (1 - noise) * sigmoid(logit) + noise / 2. Computed in log space,
    finite for any logit.
    """
    if noise == 0:
        return F.logsigmoid(logits), F.logsigmoid(-logits)
    keep, rand = math.log1p(-noise), math.log(noise / 2)
    rand_t = torch.full_like(logits, rand)
    log_left = torch.logaddexp(keep + F.logsigmoid(logits), rand_t)
    log_right = torch.logaddexp(keep + F.logsigmoid(-logits), rand_t)
    return log_left, log_right


def preference_loss(logits: torch.Tensor, targets: torch.Tensor, noise: float = 0.1,
                    weights: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy of preference labels. targets: P[left preferred] in {0, 0.5, 1}.

    logits and targets share a shape, e.g. (M, B); returns the (weighted) mean over the last dim.
    """
    log_left, log_right = preference_log_probs(logits, noise)
    ce = -(targets * log_left + (1 - targets) * log_right)
    if weights is None:
        return ce.mean(dim=-1)
    return (ce * weights).sum(dim=-1) / weights.sum(dim=-1).clamp_min(1e-8)


# ---------------------------------------------------------------- the ensemble
class RewardEnsemble(nn.Module):
    def __init__(self, in_dim: int, members: int = 3, hidden: tuple[int, ...] = (64, 64),
                 slope: float = 0.01):
        super().__init__()
        dims = [in_dim, *hidden, 1]
        self.slope = slope
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for d_in, d_out in zip(dims[:-1], dims[1:], strict=True):
            bound = 1 / math.sqrt(d_in)
            self.weights.append(nn.Parameter(torch.empty(members, d_in, d_out).uniform_(-bound, bound)))
            self.biases.append(nn.Parameter(torch.empty(members, 1, d_out).uniform_(-bound, bound)))
        self.register_buffer("mean", torch.zeros(members))
        self.register_buffer("std", torch.ones(members))
        self.register_buffer("in_mean", torch.zeros(in_dim))
        self.register_buffer("in_std", torch.ones(in_dim))
        self._views = None

    @property
    def members(self) -> int:
        return self.weights[0].shape[0]

    @property
    def in_dim(self) -> int:
        return self.weights[0].shape[1]

    def raw(self, x: torch.Tensor) -> torch.Tensor:
        """Unnormalised reward of each member. x: (M, N, D) or (N, D) -> (M, N)"""
        x = (x - self.in_mean) / self.in_std
        if x.dim() == 2:
            x = x.expand(self.members, *x.shape)
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            x = torch.baddbmm(b, x, w)
            if i < len(self.weights) - 1:
                x = F.leaky_relu(x, self.slope)
        return x.squeeze(-1)

    def member_rewards(self, x: torch.Tensor) -> torch.Tensor:
        """Each member's normalised reward. x: (..., D) -> (M, ...)"""
        lead = x.shape[:-1]
        r = self.raw(x.reshape(-1, x.shape[-1]))
        r = (r - self.mean[:, None]) / self.std[:, None]
        return r.reshape(self.members, *lead)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """r_hat: the members' normalised rewards averaged. (..., D) -> (...)"""
        return self.member_rewards(x).mean(dim=0)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """r_hat of a few rows in numpy, for the agent's reward on every env step: the same
        function as ``forward`` (float32; equal up to rounding) without torch's per-call cost,
        which is most of the reward model's share of a run's wall time. (N, D) -> (N,)"""
        return self.predict_members(x).mean(axis=0)

    def predict_members(self, x: np.ndarray) -> np.ndarray:
        """Each member's normalised reward, in numpy (as ``member_rewards``). (N, D) -> (M, N)"""
        weights, biases, mean, std, in_mean, in_std = self._numpy_views()
        h = (np.asarray(x, dtype=np.float32) - in_mean) / in_std
        for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
            h = h @ w + b  # (N, D) @ (M, D, H) -> (M, N, H)
            if i < len(weights) - 1:
                h = np.maximum(h, self.slope * h)  # leaky ReLU, slope < 1
        return (h[..., 0] - mean[:, None]) / std[:, None]

    def _numpy_views(self) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray, np.ndarray, np.ndarray,
                                    np.ndarray]:
        """numpy arrays sharing memory with the parameters and normalisation: optimiser steps,
        ``normalise`` and ``load_state_dict`` write in place and show in them. Made on first use
        and again after ``_apply`` (``.to``, ``.float``, ...), which replaces the tensors. A parameter
        replaced by assignment would not be seen; nothing here does that."""
        if self._views is None:
            n = len(self.weights)
            arrays = [t.detach().numpy() for t in (*self.weights, *self.biases, self.mean, self.std,
                                                   self.in_mean, self.in_std)]
            self._views = (arrays[:n], arrays[n:2 * n], *arrays[2 * n:])
        return self._views

    def _apply(self, fn, *args, **kwargs):
        self._views = None
        return super()._apply(fn, *args, **kwargs)

    def l2_penalty(self) -> torch.Tensor:
        """Sum of squared weights of each member. -> (M,)"""
        return sum(w.pow(2).sum(dim=(1, 2)) for w in self.weights)

    @torch.no_grad()
    def normalise(self, x: torch.Tensor, target_std: float = 1.0) -> None:
        """Set each member's mean/std so that its reward on a sample of behaviour x (N, D) has mean 0
        and std ``target_std``."""
        r = self.raw(x)
        self.mean.copy_(r.mean(dim=1))
        self.std.copy_(r.std(dim=1).clamp_min(1e-6) / target_std)

    @torch.no_grad()
    def standardise_inputs(self, x: torch.Tensor, keep_function: bool = True) -> None:
        """Set the input standardisation (mean, std per feature; std at least INPUT_STD_FLOOR)
        from a sample of inputs x: (N, D). With ``keep_function`` the first layer is rescaled so
        every member computes the same reward as before, for any input: only how the fit sees
        the features (gradient scale, l2) changes, and the agent's reward does not jump. Without
        it (an untrained model) the first layer keeps its initialisation, now in standard units."""
        self.set_input_standardisation(x.mean(dim=0), x.std(dim=0).nan_to_num(0.0).clamp_min(INPUT_STD_FLOOR),
                                       keep_function)

    @torch.no_grad()
    def set_input_standardisation(self, new_mean: torch.Tensor, new_std: torch.Tensor,
                                  keep_function: bool = True) -> None:
        """Inputs standardised by ``new_mean`` and ``new_std`` (D,) from now on; with ``keep_function``
        the first layer is rescaled so the reward of every input stays the same."""
        if keep_function:
            w, b = self.weights[0], self.biases[0]  # (M, D, H), (M, 1, H)
            shift = (new_mean - self.in_mean) / self.in_std  # old standard units
            b.add_(torch.einsum("d,mdh->mh", shift, w)[:, None, :])
            w.mul_((new_std / self.in_std)[None, :, None])
        self.in_mean.copy_(new_mean)
        self.in_std.copy_(new_std)

    @torch.no_grad()
    def move_toward(self, other: RewardEnsemble, share: float) -> None:
        """Polyak averaging: each parameter moves ``share`` of the way to ``other``'s (1: a copy of its
        weights). The input standardisation is first set to ``other``'s, keeping this ensemble's
        function, so the two average in the same units; the output normalisation (mean, std) is
        left for ``normalise``."""
        self.set_input_standardisation(other.in_mean.clone(), other.in_std.clone(), keep_function=True)
        for mine, theirs in zip(self.parameters(), other.parameters(), strict=True):
            mine.lerp_(theirs, share)

    @torch.no_grad()
    def member_segment_returns(self, segments: np.ndarray) -> np.ndarray:
        """Each member's normalised reward summed over each segment. (C, T, D) -> (M, C)"""
        return segment_returns(self.member_rewards(torch.as_tensor(segments))).numpy()

    def pair_logits(self, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        """Each member's logit that left is preferred. (C, T, D) x2 -> (M, C)"""
        return self.member_segment_returns(left) - self.member_segment_returns(right)

    @torch.no_grad()
    def segment_return(self, features: np.ndarray) -> np.ndarray:
        """Ensemble r_hat summed over each segment. (C, T, D) -> (C,)"""
        return segment_returns(self(torch.as_tensor(features))).numpy()

    def to_npz(self) -> bytes:
        buf = io.BytesIO()
        np.savez(buf, **{k: v.detach().numpy() for k, v in self.state_dict().items()})
        return buf.getvalue()

    @classmethod
    def from_npz(cls, data: bytes, slope: float = 0.01) -> RewardEnsemble:
        with np.load(io.BytesIO(data)) as z:
            state = {k: torch.as_tensor(z[k]) for k in z.files}
        m, d_in, _ = state["weights.0"].shape
        layers = sum(k.startswith("weights.") for k in state)
        hidden = tuple(state[f"weights.{i}"].shape[2] for i in range(layers - 1))
        model = cls(d_in, m, hidden, slope)
        # saved before inputs could be standardised: raw inputs
        state.setdefault("in_mean", torch.zeros(d_in))
        state.setdefault("in_std", torch.ones(d_in))
        model.load_state_dict(state)
        return model


# ---------------------------------------------------------------- training data
@dataclass
class PreferenceData:
    """Labelled pairs, each with a fixed per-member role (validation or bootstrap weight)."""

    left: torch.Tensor  # (P, T, D)
    right: torch.Tensor  # (P, T, D)
    targets: torch.Tensor  # (P,) P[left preferred]
    is_val: torch.Tensor  # (M, P) bool: held out for this member
    boot: torch.Tensor  # (M, P) bootstrap multiplicity (Poisson(1)); 0 on validation pairs

    @classmethod
    def empty(cls, members: int, length: int, dim: int) -> PreferenceData:
        z = torch.zeros
        return cls(z(0, length, dim), z(0, length, dim), z(0), z(members, 0, dtype=torch.bool), z(members, 0))

    def __len__(self) -> int:
        return len(self.targets)

    def steps(self, first: int | None = None) -> torch.Tensor:
        """Every step of every labelled segment (of the ``first`` pairs only, if given), left and
        right, as one batch of inputs. (2*P*T, D)"""
        return torch.cat([self.left[:first], self.right[:first]]).reshape(-1, self.left.shape[-1])

    def extend(self, left: np.ndarray, right: np.ndarray, targets: np.ndarray,
               rng: np.random.Generator) -> None:
        """Add pairs (N, T, D) x2 with targets (N,); draw each member's role for them."""
        n, m = len(targets), self.is_val.shape[0]
        is_val = torch.as_tensor(rng.random((m, n)) < VAL_FRACTION)
        boot = torch.as_tensor(rng.poisson(1.0, (m, n)), dtype=torch.float32) * ~is_val
        self.left = torch.cat([self.left, torch.as_tensor(left, dtype=torch.float32)])
        self.right = torch.cat([self.right, torch.as_tensor(right, dtype=torch.float32)])
        self.targets = torch.cat([self.targets, torch.as_tensor(targets, dtype=torch.float32)])
        self.is_val = torch.cat([self.is_val, is_val], dim=1)
        self.boot = torch.cat([self.boot, boot], dim=1)


@dataclass(frozen=True)
class FitConfig:
    lr: float = 1e-3
    batch_size: int = 32
    """Labelled pairs per minibatch, per member."""
    noise: float = 0.1
    """Assumed chance the teacher answers uniformly at random."""
    adaptive_l2: bool = True
    """Adapt l2 to keep validation loss within L2_BAND of training loss; else keep it fixed."""
    l2_init: float = 1e-4
    crop: float = 1.0
    """Temporal cropping (SURF, Park et al. 2022): in each minibatch step every pair is cut to one
    random length in [crop * T, T] steps, its two clips at independent offsets. 1: whole clips."""
    pseudo_weight: float = 1.0
    """Weight of the pseudo-labelled pairs' loss beside the labelled pairs' (SURF's lambda)."""


def _windows(x: torch.Tensor, idx: torch.Tensor, length: int, rng: np.random.Generator | None) -> torch.Tensor:
    """Segments ``x[idx]`` (idx (M, B) into x (P, T, D)), each cut to ``length`` steps at its own
    random offset: (M, B, length, D). Whole segments when ``length`` is T."""
    t = x.shape[1]
    if length == t:
        return x[idx]
    start = torch.as_tensor(rng.integers(0, t - length + 1, size=tuple(idx.shape)))
    return x[idx[..., None], start[..., None] + torch.arange(length)]


class RewardTrainer:
    """Fits a :class:`RewardEnsemble` to :class:`PreferenceData`; owns optimiser and l2 state."""

    def __init__(self, model: RewardEnsemble, config: FitConfig):
        self.model, self.config = model, config
        self.l2 = torch.full((model.members,), config.l2_init)
        self.optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)

    def _pair_logits(self, left: torch.Tensor, right: torch.Tensor, idx: torch.Tensor,
                     rng: np.random.Generator | None = None) -> torch.Tensor:
        """Each member's logit on its own pairs ``idx`` (M, B) of ``left``/``right`` (P, T, D): (M, B).
        With ``rng``, the pairs are temporally cropped (``FitConfig.crop``)."""
        t = left.shape[1]
        length = t if rng is None else int(rng.integers(math.ceil(self.config.crop * t), t + 1))
        r_left, r_right = (self.model.raw(x.reshape(len(idx), -1, x.shape[-1])).reshape(*idx.shape, length)
                           for x in (_windows(left, idx, length, rng), _windows(right, idx, length, rng)))
        return segment_returns(r_left) - segment_returns(r_right)

    def fit(self, data: PreferenceData, steps: int, rng: np.random.Generator,
            pseudo: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None) -> dict[str, float]:
        """``steps`` minibatch steps for every member at once, then adapt l2. Returns metrics.

        ``pseudo``: unlabelled pairs with the ensemble's own confident answers as labels
        (:meth:`pseudo_labels`); each step then adds a minibatch of them, weighted ``pseudo_weight``.
        """
        # Each member draws its minibatches from its own bootstrap sample.
        pools = [np.repeat(np.arange(len(data)), b.int().numpy()) for b in data.boot]
        if any(len(p) == 0 for p in pools):
            return {}
        crop_rng = rng if self.config.crop < 1 else None
        size = (self.model.members, self.config.batch_size)
        for _ in range(steps):
            idx = torch.as_tensor(np.stack([p[rng.integers(len(p), size=self.config.batch_size)] for p in pools]))
            logits = self._pair_logits(data.left, data.right, idx, crop_rng)
            ce = preference_loss(logits, data.targets[idx], self.config.noise)  # (M,)
            if pseudo is not None:
                p_idx = torch.as_tensor(rng.integers(len(pseudo[2]), size=size))
                p_logits = self._pair_logits(pseudo[0], pseudo[1], p_idx, crop_rng)
                ce = ce + self.config.pseudo_weight * preference_loss(p_logits, pseudo[2][p_idx], self.config.noise)
            loss = ce + self.l2 * self.model.l2_penalty()
            self.optimizer.zero_grad()
            loss.sum().backward()
            self.optimizer.step()
        return self._evaluate_and_adapt(data)

    @torch.no_grad()
    def pseudo_labels(self, left: np.ndarray, right: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
        """SURF's pseudo-labels: for unlabelled pairs (N, T, D) x2, which ones the ensemble is
        confident on (its members' mean P[left > right], without the teacher-noise term, beyond
        ``threshold`` either way) and its answer there, 1.0 or 0.0. -> (N,) bool, (n_confident,)"""
        left_t, right_t = torch.as_tensor(left), torch.as_tensor(right)
        idx = torch.arange(len(left)).expand(self.model.members, -1)
        p_left = torch.sigmoid(self._pair_logits(left_t, right_t, idx)).mean(dim=0).numpy()
        confident = np.maximum(p_left, 1 - p_left) > threshold
        return confident, (p_left[confident] > 0.5).astype(np.float32)

    @torch.no_grad()
    def _evaluate_and_adapt(self, data: PreferenceData) -> dict[str, float]:
        """Training (bootstrap-weighted) and validation loss per member; adapt l2 from their ratio."""
        idx = torch.arange(len(data)).expand(self.model.members, -1)
        logits = torch.cat([self._pair_logits(data.left, data.right, chunk) for chunk in idx.split(256, dim=1)],
                           dim=1)
        targets = data.targets.expand_as(logits)
        train = preference_loss(logits, targets, self.config.noise, data.boot)  # (M,)
        val = preference_loss(logits, targets, self.config.noise, data.is_val.float())
        has_val = data.is_val.any(dim=1)
        if self.config.adaptive_l2:
            ratio = val / train.clamp_min(1e-8)
            up = has_val & (ratio > L2_BAND[1])
            down = has_val & (ratio < L2_BAND[0])
            self.l2 = torch.where(up, self.l2 * 2, torch.where(down, self.l2 / 2, self.l2)).clamp(1e-8, 10.0)
        return {
            "rm/train_loss": float(train.mean()),
            "rm/val_loss": float(val[has_val].mean()) if has_val.any() else float("nan"),
            "rm/l2": float(self.l2.mean()),
        }


def same_order(d_true: np.ndarray, left_preferred: np.ndarray) -> float:
    """Share of pairs whose true returns differ (``d_true`` = left - right) on which
    ``left_preferred`` matches the truth; nan when none differ."""
    differ = d_true != 0
    return float(np.mean((d_true[differ] > 0) == left_preferred[differ])) if differ.any() else float("nan")


@torch.no_grad()
def preference_accuracy(model: RewardEnsemble, left: np.ndarray, right: np.ndarray,
                        targets: np.ndarray) -> float:
    """Share of decisive labels whose preferred side has the larger ensemble return."""
    decisive = targets != 0.5
    if not decisive.any():
        return float("nan")
    diff = model.segment_return(left[decisive]) - model.segment_return(right[decisive])
    return same_order(targets[decisive] - 0.5, diff > 0)

