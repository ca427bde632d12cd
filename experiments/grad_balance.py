"""How large is PPO's value-loss gradient beside its policy-loss gradient, on a task's true reward?

SB3's PPO clips the whole gradient (policy and value networks together) to one norm (0.5). When
the value loss's gradient is many times the policy loss's, that clip scales the policy's step by
the value loss. This trains PPO on the true reward for ``--steps`` env steps in the given RL
settings (``--obs-norm``, ``--return-norm``, ...), as a true-reward run of the trainer (its envs,
reward wrappers and agent, in a temporary folder), then takes minibatches of its last rollout, as its
last update saw them, and reports the norm of each loss's gradient over all the policy's parameters
(the value loss times PPO's ``vf_coef``, as it enters the loss) and their ratio (medians over the
minibatches), with the std of the rollout's value targets.

    python -m experiments.grad_balance --env Walker2d --steps 40960 --obs-norm --log-std-init -1 \\
        --train-episode-steps 200 [--return-norm] [--out FILE.json]
"""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import json  # noqa: E402
import tempfile  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from itertools import islice  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from prefrl import cli  # noqa: E402
from prefrl.config import ConfigError, RunConfig  # noqa: E402
from prefrl.trainer import PreferenceRun  # noqa: E402

MINIBATCHES = 32
"""Minibatches of the last rollout measured (the medians are over these)."""


def gradient_norms(config: RunConfig, minibatches: int = MINIBATCHES) -> dict[str, Any]:
    """Train PPO on ``config.env``'s true reward for ``config.steps`` env steps, then measure (see the module)."""
    if config.algo != "ppo":
        raise ConfigError("grad_balance measures PPO's clipped loss: drop --algo a2c")
    if config.train_episode_growth:
        raise ConfigError("grad_balance trains in one stretch, without growing episodes: drop --train-episode-growth")
    with tempfile.TemporaryDirectory() as tmp:  # the trainer's own envs, reward wrappers and agent
        run = PreferenceRun(config, Path(tmp) / "run")
        agent = run.agent
        agent.learn(config.steps, callback=run.learn_callback)
    buffer = agent.rollout_buffer
    clip = agent.clip_range(agent._current_progress_remaining)
    params = [p for p in agent.policy.parameters() if p.requires_grad]
    rows = []
    for data in islice(buffer.get(agent.batch_size), minibatches):
        values, log_prob, _ = agent.policy.evaluate_actions(data.observations, data.actions)
        advantages = data.advantages
        if agent.normalize_advantage and len(advantages) > 1:
            advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        ratio = torch.exp(log_prob - data.old_log_prob)
        policy_loss = -torch.min(advantages * ratio, advantages * ratio.clamp(1 - clip, 1 + clip)).mean()
        value_loss = agent.vf_coef * F.mse_loss(data.returns, values.flatten())
        norms = []
        for loss in (policy_loss, value_loss):
            grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
            norms.append(float(torch.sqrt(sum((g**2).sum() for g in grads if g is not None))))
        rows.append(norms)
    policy, value = np.median(np.asarray(rows), axis=0)
    return {"env": config.env, "steps": agent.num_timesteps, "seed": config.seed, "return_norm": config.return_norm,
            "minibatches": len(rows), "value_target_std": float(buffer.returns.std()),
            "policy_grad_norm": float(policy), "value_grad_norm": float(value),
            "value_over_policy": float(np.median([v / p for p, v in rows])), "max_grad_norm": agent.max_grad_norm}


def main(argv: Sequence[str] | None = None) -> int:
    parser = cli.build_parser(RunConfig, "python -m experiments.grad_balance", __doc__,
                              {"steps": 40_960, "true_reward": True})
    parser.add_argument("--out", type=Path, help="also write the result to this JSON file (must not exist; its folder is made)")
    config, ns = cli.parse(RunConfig, argv, parser)
    if not config.true_reward:
        cli.fail("grad_balance measures PPO on the true reward: drop --true-reward false")
    cli.claim_out(ns.out)
    result = gradient_norms(config)
    print(f"{result['env']} after {result['steps']} steps (return_norm {result['return_norm']}): value targets' std "
          f"{result['value_target_std']:.3g}; gradient norms, median of {result['minibatches']} minibatches: policy "
          f"loss {result['policy_grad_norm']:.3g}, value loss {result['value_grad_norm']:.3g}; value/policy "
          f"{result['value_over_policy']:.3g} (the whole gradient is clipped to {result['max_grad_norm']})")
    if ns.out:
        ns.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    cli.main_guard(main)()
