"""Train a Hopper to backflip from comparisons (Christiano et al. 2017, §3.2).

    python -m experiments.backflip                  # synthetic backflip oracle, default budget
    python -m experiments.backflip --quick          # a few minutes, to look at
    python -m experiments.backflip --true-reward    # ceiling: PPO directly on the oracle's score
    python -m experiments.backflip --teacher human  # label in the browser (labelling page)
    python -m experiments.backflip --policies 2     # two policies (one core each) sharing the labels

Task ``prefrl/HopperBackflip-v0`` (envs/backflip.py); the teacher is the scripted judge of
synthetic_oracle/backflip.py (``--oracle-score backflip``). The env's true reward is that same
per-step score, so ``--true-reward`` trains PPO on it without preferences: the ceiling.

Writes the run directory (default runs/backflip_<labels or true>_s<seed>) as
experiments.mujoco does, plus: ``flips.png`` (clean backflips per evaluation episode against
labels used and env steps), ``best_flip_<i>.gif`` (the evaluation episodes with the most flips,
25 fps, real time) and in ``summary.json`` the flip counts of the final evaluation.

Keeping what it found: at every evaluation the policy and its evaluation episodes are kept under
``snapshots/``; at the end the run's own final reward model rates each snapshot by the r_hat return
of its episodes (no true reward, no label: the true-reward ceiling rates by the oracle's score, which
it trains on), and the best-rated policy is evaluated again on 20 fresh episodes (``selected_*`` in
summary.json, ``policy_selected.zip``, the GIFs). ``final_*`` stays the last policy's. With
``--select-labels K`` the teacher decides instead, with K comparisons kept from the ``--labels``
budget (the reward model learns from the other labels): one fresh episode of each of the K + 1
snapshots r_hat rates highest, compared in turn (:func:`experiments.selection.teacher_choice`).

A population (``--policies K``, prefrl.population): K policies, each a run of its own in
``<run dir>/member<k>`` (seed ``--seed + 1000 k``, ``--steps`` each), ask their shares of one label
budget into one ``labels.sqlite`` and each fit a reward model on all of them, in step; policy 0's
final reward model then rates every member's snapshots, and the run directory gets the chosen
policy, its GIF, ``flips.png`` of every member and a ``summary.json`` of the whole.
"""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import dataclasses  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402

import envs  # noqa: E402
from experiments.selection import (  # noqa: E402
    SNAPSHOTS,
    check_select_labels,
    choose_snapshot,
    chooser,
    rank_corr,
    rate_snapshots,
    save_snapshot,
    selection_record,
    training_config,
)
from prefrl import cli, population  # noqa: E402
from prefrl.config import ConfigError, RunConfig  # noqa: E402
from prefrl.segments import Segment  # noqa: E402
from synthetic_oracle.backflip import FlipCount, count_flips  # noqa: E402

ENV = "HopperBackflip"
ENVS = (ENV, "HopperBackflipHistory")
"""Tasks this trains: the backflip Hopper, or the same with the motion history in its
observation (envs/backflip.py), so the reward model sees what the clip showed up to each step."""
DEFAULTS: dict[str, Any] = {
    "env": ENV, "oracle_score": "backflip", "labels": 1500, "steps": 1_500_000, "gsde_every": 8, "fit_steps": 100,
    "eval_every": 100_000, "eval_episodes": 5, "final_eval_episodes": 20,
}
"""The plain command's settings (measured, experiments/results/backflip/README.md): seeds 0 and 1
flip in 20 of 20 evaluation episodes (first flips at 1.16M and 131k steps), seed 2 never, 16-23 min
here. With 500 labels 1 seed of 7 flipped (seed 1); the seed decides more than the budget."""
QUICK: dict[str, Any] = {"labels": 60, "steps": 60_000, "eval_every": 20_000, "final_eval_episodes": 5}
PPO_KWARGS = {"n_steps": 512, "batch_size": 256, "gamma": 0.995, "gae_lambda": 0.95}
"""PPO for this task: longer rollouts and bigger minibatches than the paper tasks' (a flip
pays off ~150 steps after the jump; bigger batches also run faster on CPU)."""
GAUSSIAN_POLICY_KWARGS = {"log_std_init": -0.5}
"""With ``--gsde-every 0`` (independent Gaussian noise per step): a smaller initial action noise
(std 0.6, not 1), as a landing needs precise joints."""
LAUNCH_SHARE = 0.0
"""Share of training episodes that start launched (envs/backflip.py) at the start of training.
Off by default: with gSDE exploration PPO finds the take-off from standing starts, and launched
starts slowed it (measured, PPO on the score, 1.5M steps: with ``--launch-share 0.5`` no flip by
700k steps; without, 4 clean flips per episode from 360k on; experiments/results/backflip/)."""
LAUNCH_UNTIL = 0.6
"""The share falls linearly to 0 at this fraction of the training steps; from there on every
training episode starts standing, as evaluation episodes always do."""
SELECT_SEED = 60_000  # seed offset of the standing start every candidate's clip for the teacher begins from
GIF_SIZE = 160  # px
GIFS = 1  # best evaluation episodes written as GIFs
T_95 = {5: 2.776, 10: 2.262, 20: 2.093}  # Student t, two-sided 95%, by episode count


def evaluate_flips(agent, episodes: int, seed: int, launched: bool = False, env_name: str = ENV) -> list[Segment]:
    """``episodes`` whole episodes of the deterministic policy on ``env_name``, recorded as
    segments; standing starts, or with ``launched`` launched ones (a diagnostic of the landing alone)."""
    env = gym.make(envs.env_id(env_name))
    env.unwrapped.launch_share = 1.0 if launched else 0.0
    out = []
    for i in range(episodes):
        obs, _ = env.reset(seed=seed + i)
        rows: dict[str, list] = {"obs": [], "actions": [], "true_reward": [], "qpos": [], "qvel": []}
        facts: dict[str, list] = {}
        done = False
        while not done:
            action, _ = agent.predict(obs, deterministic=True)
            rows["obs"].append(obs)
            rows["actions"].append(action)
            obs, reward, terminated, truncated, info = env.step(action)
            done = terminated or truncated
            rows["true_reward"].append(reward)
            rows["qpos"].append(info.pop("qpos"))
            rows["qvel"].append(info.pop("qvel"))
            for k, v in info.items():
                facts.setdefault(k, []).append(v)
        out.append(Segment(**{k: np.asarray(v) for k, v in rows.items()},
                           facts={k: np.asarray(v) for k, v in facts.items()}))
    env.close()
    return out


def candidate_clip(config: RunConfig, policy: Path) -> Segment:
    """The clip the teacher sees of a saved policy when choosing among them: one episode of it,
    from the one standing start every candidate begins from."""
    from prefrl import agents

    agent = agents.load_agent(config, policy, None, None)
    return evaluate_flips(agent, 1, config.seed + SELECT_SEED, env_name=config.env)[0]


def flip_stats(counts: Sequence[FlipCount]) -> dict[str, float]:
    """Clean backflips per episode (mean, 95% CI), share with >= 1, forward flips, falls."""
    flips = np.array([c.backflips for c in counts], dtype=float)
    n = len(flips)
    half = T_95.get(n, 1.96) * flips.std(ddof=1) / math.sqrt(n) if n > 1 else float("nan")
    return {
        "flips_per_episode": float(flips.mean()),
        "flips_per_episode_ci95": [float(flips.mean() - half), float(flips.mean() + half)],
        "clean_flip_share": float(np.mean(flips >= 1)),
        "forward_flips_per_episode": float(np.mean([c.forward_flips for c in counts])),
        "falls_per_episode": float(np.mean([c.falls for c in counts])),
        "episodes": n,
    }


def write_gifs(episodes: list[Segment], counts: list[FlipCount], path: Path, n: int) -> list[str]:
    """The ``n`` episodes with the most clean flips (then highest score) as GIFs; their names."""
    from prefrl.render import ClipRenderer

    order = sorted(range(len(episodes)), key=lambda i: (counts[i].backflips, episodes[i].true_return),
                   reverse=True)[:n]
    names = []
    with ClipRenderer(ENV, GIF_SIZE) as renderer:  # the same body and camera for either task
        for rank, i in enumerate(order):
            name = f"best_flip_{rank}.gif"
            renderer.write_gif(episodes[i], path / name)
            names.append(name)
    return names


def plot(runs: dict[str, list[dict[str, Any]]], path: Path, title: str,
         ratings: dict[str, dict[int, float]] | None = None, selected: tuple[str, int] | None = None,
         rated_by: str = "r_hat", chosen_by: str | None = None) -> None:
    """Flips per evaluation episode (standing and launched starts) against labels and env steps,
    the oracle's score per episode against env steps and, given the snapshots' ``ratings``, what the
    choice of policy read (``selected``: the chosen run and env step, marked against env steps; chosen
    by ``chosen_by``, by default by whoever rated them). A run that planned (``--plan-iterations``)
    also shows its planner's batches: the share of plans that flip against labels and env steps
    (most of a planner run's labels are asked then) and their mean oracle score.
    ``runs``: each run's metrics by name (one run, or the members of a population)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4 if ratings else 3, figsize=(17 if ratings else 13, 3.6))
    panels = [(axes[0], "labels", "eval/flips_per_episode", "labels used (bits of feedback)", "clean backflips / episode"),
              (axes[1], "env_steps", "eval/flips_per_episode", "environment steps", "clean backflips / episode"),
              (axes[2], "env_steps", "eval/true_return", "environment steps", "oracle's backflip score / episode")]
    if ratings:
        panels.append((axes[3], "env_steps", "rating", "environment steps",
                       "oracle's score / episode" if rated_by == "oracle_score" else "final r_hat's return / episode"))
    for ax, x, y, xlabel, ylabel in panels:
        for colour, (name, metrics) in enumerate(runs.items()):
            rows = [m for m in metrics if "eval/flips_per_episode" in m]
            if y == "rating":
                rows = [{"env_steps": k, "rating": v} for k, v in ratings.get(name, {}).items()]
            ax.plot([m[x] for m in rows], [m[y] for m in rows], "o-", ms=3, color=f"C{colour}", label=name)
            launched = [m for m in rows if "eval/launched_flips_per_episode" in m]
            if launched and x == "env_steps" and y == "eval/flips_per_episode":
                ax.plot([m[x] for m in launched], [m["eval/launched_flips_per_episode"] for m in launched], "^:",
                        ms=3, color=f"C{colour}", label=f"{name}, launched starts")
            planned = [m for m in metrics if "plan/flip_share" in m]
            if planned and y != "rating":
                key, what = (("plan/true_return", "planner's batches, mean") if y == "eval/true_return"
                             else ("plan/flip_share", "planner's batches, share of plans flipping"))
                ax.plot([m[x] for m in planned], [m[key] for m in planned], "s--", ms=2, lw=0.8, alpha=0.7,
                        color=f"C{colour}", label=f"{name}, {what}")
        if selected is not None and x == "env_steps":
            ax.axvline(selected[1], color="k", ls="--", lw=1,
                       label=f"chosen by {chosen_by or rated_by}: {selected[0]}" if len(runs) > 1
                       else f"policy chosen by {chosen_by or rated_by}")
        if len(ax.get_lines()) > 1:
            ax.legend(loc="best", fontsize=7)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if y == "eval/flips_per_episode":
            ax.set_ylim(bottom=0)  # from zero: a flat line at one flip is not magnified into noise
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_run(path: Path, config: RunConfig, summary: dict[str, Any], metrics: list[dict[str, Any]]) -> str:
    """A single run's ``flips.png`` from its config, summary (snapshot ratings, the chosen policy)
    and metrics; returns the file's name. Also redraws a finished run's plot from its files."""
    what = "PPO on the oracle's score (ceiling)" if config.true_reward else f"{summary['labels']} synthetic labels"
    ratings = {int(k): v for k, v in summary["snapshot_ratings"].items()}
    plot({"this run": metrics}, path / "flips.png", f"{title(config.env)}, {what}, seed {config.seed}",
         {"this run": ratings}, ("this run", summary["selected_env_steps"]),
         "oracle_score" if config.true_reward else "r_hat", chooser(summary.get("select_labels", 0)))
    return "flips.png"


def title(env_name: str) -> str:
    """The task as plots name it."""
    return "Hopper backflip" + (" (motion history in the observation)" if env_name != ENV else "")


def launch_share(steps: int, total: int, start: float = LAUNCH_SHARE) -> float:
    """The launch curriculum: share of launched resets after ``steps`` of ``total``."""
    return max(0.0, start * (1.0 - steps / (LAUNCH_UNTIL * total)))


def backflip_run(config: RunConfig, path: Path, launch: float = LAUNCH_SHARE, select_labels: int = 0, **kwargs):
    """A PreferenceRun with this task's PPO settings, the launch curriculum (``launch``: the
    starting share of launched training episodes) and flip counts in its evaluations; the final
    policy chosen among the evaluated ones by r_hat or, with ``select_labels`` kept from
    ``config.labels``, by the teacher (:func:`experiments.selection.teacher_choice`)."""
    from prefrl import agents
    from prefrl.trainer import PreferenceRun

    config = training_config(config, select_labels)

    class BackflipRun(PreferenceRun):
        def __init__(self):
            super().__init__(config, path, **kwargs)
            self.set_launch_share()
            self.snapshot_obs = agents.reward_obs(config.env)  # what r_hat reads of the snapshots' episodes

        def new_agent(self, venv, seed=None):
            if config.algo != "ppo":  # A2C keeps the library's settings
                return super().new_agent(venv, seed)
            return agents.make_agent(self.seeded(seed), venv, str(self.path), PPO_KWARGS, GAUSSIAN_POLICY_KWARGS)

        def set_launch_share(self) -> float:
            share = launch_share(self.agent.num_timesteps, config.steps, launch)
            for env in self.recorder.unwrapped.envs:
                env.unwrapped.launch_share = share
            return share

        def restore(self, venv):
            agent = super().restore(venv)
            for f in (self.path / SNAPSHOTS).glob("*.*"):  # those a killed run made after its checkpoint
                if int(f.stem) > agent.num_timesteps:
                    f.unlink()
            return agent

        def evaluate(self, episodes: int, seed: int, launched: bool = False, agent=None) -> list[Segment]:
            """:func:`evaluate_flips` of the current policy (or ``agent``) on this run's task."""
            return evaluate_flips(agent or self.agent, episodes, seed, launched, env_name=config.env)

        def log(self, metrics: dict[str, Any]) -> None:
            if "eval/true_return" in metrics:
                episodes = self.evaluate(config.eval_episodes, config.seed + 30_000 + self.agent.num_timesteps)
                stats = flip_stats([count_flips(e) for e in episodes])
                metrics = metrics | {f"eval/{k}": v for k, v in stats.items() if not isinstance(v, list)}
                save_snapshot(self.agent, episodes, self.path / SNAPSHOTS, self.snapshot_obs)
                if launch > 0:
                    episodes = self.evaluate(config.eval_episodes, config.seed + 40_000 + self.agent.num_timesteps,
                                             launched=True)
                    metrics["eval/launched_flips_per_episode"] = flip_stats(
                        [count_flips(e) for e in episodes])["flips_per_episode"]
            super().log(metrics | {"launch_share": self.set_launch_share()})

        def plan_metrics(self, rollouts: list[Segment]) -> dict[str, float]:
            """Share of the planner's rollouts holding a clean flip (the oracle's count; a record only)."""
            return {"plan/flip_share": float(np.mean([count_flips(r).backflips > 0 for r in rollouts]))}

        def final_flips(self, prefix: str, agent) -> tuple[dict[str, Any], list[Segment], list[FlipCount]]:
            """``agent``'s flip counts on the final evaluation's episodes, as summary entries named
            ``prefix``..., with the episodes and their counts."""
            episodes = self.evaluate(config.final_eval_episodes, config.seed + 20_000, agent=agent)
            counts = [count_flips(e) for e in episodes]
            stats = {prefix + k: v for k, v in flip_stats(counts).items()}
            return stats | {prefix + "flips_each_episode": [c.backflips for c in counts]}, episodes, counts

        def select(self, labels: int) -> dict[str, Any]:
            """Rate the snapshots (:func:`rate_snapshots`: by r_hat, or the ceiling by the oracle's
            score), keep the best as ``policy_selected.zip`` and load it as
            ``self.selected``."""
            snapshots = self.path / SNAPSHOTS
            rates = rate_snapshots(snapshots, None if config.true_reward else self.reward_model)
            best, comparisons = choose_snapshot(rates, select_labels,
                                                lambda s: candidate_clip(config, snapshots / f"{s}.zip"), config)
            shutil.copyfile(snapshots / f"{best}.zip", self.path / "policy_selected.zip")
            self.selected = agents.load_agent(config, self.path / "policy_selected.zip", None, None)
            then = [m["labels"] for m in self.metrics.read() if m["env_steps"] == best]
            scores = rate_snapshots(snapshots)  # the oracle's, for the record: how the choice fared
            chosen_by = "teacher" if select_labels else "oracle_score" if config.true_reward else "r_hat"
            return {"selected_by": chosen_by, **selection_record(labels, select_labels, comparisons),
                    "selected_env_steps": best, "selected_labels": then[-1] if then else None,
                    "snapshot_ratings": {str(k): v for k, v in rates.items()},
                    "snapshot_oracle_scores": {str(k): v for k, v in scores.items()},
                    "snapshot_rating_score_corr": rank_corr(list(rates.values()), list(scores.values()))}

        def summarise(self) -> dict[str, Any]:
            summary = super().summarise()
            summary["launch_share_start"] = launch
            launched = [count_flips(e) for e in self.evaluate(config.final_eval_episodes, config.seed + 50_000,
                                                              launched=True)]
            summary["final_launched_flips_per_episode"] = flip_stats(launched)["flips_per_episode"]
            summary |= self.final_flips("final_", self.agent)[0]
            summary |= self.select(summary["labels"])
            selected, episodes, counts = self.final_flips("selected_", self.selected)
            summary |= selected
            summary["selected_true_return"] = float(np.mean([e.true_return for e in episodes]))
            summary["gifs"] = write_gifs(episodes, counts, self.path, GIFS)
            summary["plot"] = plot_run(self.path, config, summary, self.metrics.read())
            summary["wall_time"] = time.time() - self.start_time  # with the final evaluation and GIFs
            return summary

    return BackflipRun()


POPULATION = "population.json"  # a population run's size, beside its config.json


def member_dir(path: Path, index: int) -> Path:
    return Path(path) / f"member{index}"


def _run_member(config: RunConfig, path: Path, launch: float, member, events) -> None:
    """One member of a population, in its own process: its metrics go to ``events`` as they come."""
    os.environ.setdefault("MUJOCO_GL", "egl")
    run = backflip_run(config, member_dir(path, member.index), launch=launch, member=member,
                       on_metrics=lambda m: events.put((member.index, m)))
    run.run()


def check_population(config: RunConfig) -> None:
    """Raise ConfigError for settings a population cannot run with."""
    if config.true_reward or config.teacher != "oracle" or config.reward_model or config.offline:
        raise ConfigError("--policies shares labels between policies: it needs the synthetic oracle's labels, "
                          "learned as they come (not --true-reward, --teacher human, --reward-model or --offline)")
    if config.plan_iterations:
        raise ConfigError("--plan-iterations plans for one policy; a population's policies keep step on the label "
                          "schedule and do not plan: drop --plan-iterations or --policies")


def population_run(config: RunConfig, path: Path, policies: int, launch: float = LAUNCH_SHARE,
                   on_metrics=None, select_labels: int = 0) -> dict[str, Any]:
    """``policies`` policies learning at once (one process each) from one label store and the one
    budget ``config.labels`` (prefrl.population): member k is the run of seed ``config.seed + 1000 k``
    in ``path/member<k>``, for ``config.steps`` env steps of its own. At the end the reward model
    of member 0 (fitted, as every member's, on every label) rates every member's evaluated
    policies, as a single run rates its own; the best is evaluated again on 20 fresh episodes
    (``selected_*``); with ``select_labels`` kept from the budget the teacher chooses among the K + 1
    it rates highest (:func:`experiments.selection.teacher_choice`). Resumes as a single run does. Returns the population's
    summary."""
    from prefrl import run_dir as rd
    from prefrl.population import Member, run_members

    check_population(config)
    config = training_config(config, select_labels)
    path = rd.prepare(Path(path), config)
    sizes = path / POPULATION
    held = json.loads(sizes.read_text())["policies"] if sizes.exists() else policies
    if held != policies:
        raise ConfigError(f"{path} holds a population of {held} policies; "
                          f"pass another --run-dir or --policies {held} to resume")
    sizes.write_text(json.dumps({"policies": policies, "launch_share": launch}) + "\n")
    start = time.time()
    members = [Member(k, policies, path / "labels.sqlite") for k in range(policies)]
    configs = [dataclasses.replace(config, seed=m.seed(config.seed)) for m in members]
    for c, m in zip(configs, members, strict=True):
        if not (member_dir(path, m.index) / "summary.json").exists():
            rd.prepare(member_dir(path, m.index), c, hold=False)  # a member's config mismatch fails here, before any start
    run_members(_run_member, [(c, path, launch, m) for c, m in zip(configs, members, strict=True)],
                lambda k: (member_dir(path, k) / "summary.json").exists(), path / "labels.sqlite", on_metrics)
    summary = _population_summary(config, path, members, start, select_labels)
    rd.release(path)
    return summary


def _population_summary(config: RunConfig, path: Path, members: list, start: float,
                        select_labels: int = 0) -> dict[str, Any]:
    """Policy 0's final r_hat rates every member's snapshots; the best (or the teacher's choice among
    the ``select_labels`` + 1 best) is evaluated again, and the population's summary.json, flips.png
    and GIF are written."""
    from prefrl import agents
    from prefrl import run_dir as rd
    from prefrl.reward_model import RewardEnsemble
    from prefrl.store import LabelStore

    policies = len(members)
    summaries = [json.loads((member_dir(path, m.index) / "summary.json").read_text()) for m in members]
    judge = RewardEnsemble.from_npz((member_dir(path, 0) / "reward_model.npz").read_bytes())
    ratings = {(m.index, s): r for m in members
               for s, r in rate_snapshots(member_dir(path, m.index) / SNAPSHOTS, judge).items()}
    scores = {(m.index, s): r for m in members for s, r in rate_snapshots(member_dir(path, m.index) / SNAPSHOTS).items()}
    best, comparisons = choose_snapshot(
        ratings, select_labels, lambda key: candidate_clip(config, member_dir(path, key[0]) / SNAPSHOTS / f"{key[1]}.zip"),
        config, tiebreak=lambda key: (key[1], -key[0]),  # of equal ratings the latest, then member 0
        name=lambda key: "/".join(map(str, key)))
    shutil.copyfile(member_dir(path, best[0]) / SNAPSHOTS / f"{best[1]}.zip", path / "policy_selected.zip")
    selected = agents.load_agent(config, path / "policy_selected.zip", None, None)
    episodes = evaluate_flips(selected, config.final_eval_episodes, config.seed + 20_000, env_name=config.env)
    counts = [count_flips(e) for e in episodes]
    metrics = [rd.MetricsLog(member_dir(path, m.index) / "metrics.jsonl").read() for m in members]
    flips = [(row["env_steps"], k, row["labels"]) for k, rows in enumerate(metrics) for row in rows
             if row.get("eval/flips_per_episode", 0) > 0]
    store = LabelStore(path / "labels.sqlite")
    labels, owners = store.count_labels(), list(store.owners().values())
    store.close()
    first = min(flips) if flips else None
    summary = {
        "env": config.env, "seed": config.seed, "policies": policies,
        **selection_record(labels, select_labels, comparisons),
        "env_steps": sum(s["env_steps"] for s in summaries),
        "env_steps_per_policy": [s["env_steps"] for s in summaries],
        "wall_time": time.time() - start,  # of this command (a resumed run: since it resumed)
        "wall_time_members": [s["wall_time"] for s in summaries],
        "members": [{"seed": s["seed"], "final_flips_per_episode": s["final_flips_per_episode"],
                     "final_clean_flip_share": s["final_clean_flip_share"], "final_true_return": s["final_true_return"],
                     "labels_asked": owners.count(k)} for k, s in enumerate(summaries)],
        "first_flip": {"env_steps": first[0], "member": first[1], "labels": first[2]} if first else None,
        "selected_by": "teacher" if select_labels else "policy 0's r_hat",
        "selected_member": best[0], "selected_env_steps": best[1],
        "snapshot_ratings": {f"{k}/{s}": r for (k, s), r in ratings.items()},
        "snapshot_oracle_scores": {f"{k}/{s}": r for (k, s), r in scores.items()},
        "snapshot_rating_score_corr": rank_corr(list(ratings.values()), [scores[k] for k in ratings]),
        **{"selected_" + k: v for k, v in flip_stats(counts).items()},
        "selected_flips_each_episode": [c.backflips for c in counts],
        "selected_true_return": float(np.mean([e.true_return for e in episodes])),
        "gifs": write_gifs(episodes, counts, path, GIFS),
        "plot": "flips.png",
        "provenance": rd.provenance(),
    }
    names = [f"policy {m.index} (seed {s['seed']})" for m, s in zip(members, summaries, strict=True)]
    plot(dict(zip(names, metrics, strict=True)), path / "flips.png",
         f"{title(config.env)}, {policies} policies sharing {labels} synthetic labels, seed {config.seed}",
         {names[k]: {s: r for (i, s), r in ratings.items() if i == k} for k in range(policies)},
         (names[best[0]], best[1]), "policy 0's r_hat", chooser(select_labels))
    (path / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    quick = "--quick" in argv
    defaults = DEFAULTS | (QUICK if quick else {})
    parser = cli.build_parser(RunConfig, "python -m experiments.backflip", __doc__, defaults)
    parser.add_argument("--quick", action="store_true", help=f"a few minutes' run to look at: {QUICK}")
    parser.add_argument("--run-dir", default=None, help="run directory (default: runs/backflip_<labels>_s<seed>)")
    parser.add_argument("--launch-share", type=float, default=LAUNCH_SHARE,
                        help=f"share of launched training episodes at the start, falling to 0 at "
                             f"{LAUNCH_UNTIL:.0%}% of the steps; 0: every episode starts standing (default: {LAUNCH_SHARE})")
    parser.add_argument("--policies", type=int, default=1,
                        help="a population: this many policies (one process each; seeds --seed + 1000 k) learn at "
                             "once from one label store and the one --labels budget, each for --steps env steps; "
                             "the best by policy 0's final r_hat is evaluated (prefrl.population)")
    parser.add_argument("--select-labels", type=int, default=0,
                        help="comparisons kept from --labels for the teacher to choose the final policy: one episode "
                             "of each of the K + 1 evaluated policies r_hat rates highest, compared in turn; the reward "
                             "model learns from the other labels. 0: r_hat's best-rated policy, no label (default: 0)")
    cli.add_label_page_flags(parser)
    config, ns = cli.parse(RunConfig, argv, parser)
    check_select_labels(config, ns.select_labels)
    if not 0.0 <= ns.launch_share <= 1.0:
        raise ConfigError(f"--launch-share must be in [0, 1], got {ns.launch_share}")
    if ns.policies < 1:
        raise ConfigError(f"--policies must be at least 1, got {ns.policies}")
    if config.env not in ENVS:
        raise ConfigError(f"experiments.backflip trains {' or '.join(ENVS)} only; use experiments.mujoco for "
                          f"--env {config.env}")
    run_dir = ns.run_dir or cli.default_run_dir(
        "runs", "backflip", "true" if config.true_reward else config.labels, f"s{config.seed}",
        *([f"pop{ns.policies}"] if ns.policies > 1 else []), *(["quick"] if quick else []))
    from tqdm import tqdm

    if ns.policies > 1:
        check_population(config)
        with tqdm(total=config.steps * ns.policies, unit="step", desc=f"backflip {run_dir}", file=sys.stderr) as bar:
            done = [0] * ns.policies

            def progress_of(index, m):
                done[index] = m["env_steps"]
                bar.update(max(0, sum(done) - bar.n))
                bar.set_postfix(labels=m["labels"])

            try:
                summary = population_run(config, Path(run_dir), ns.policies, ns.launch_share, progress_of,
                                         ns.select_labels)
            except population.PopulationFailed as e:
                print(f"error: {e}", file=sys.stderr)
                return 1
        print(json.dumps(summary, indent=2))
        return 0
    teacher = cli.start_teacher(config, run_dir, ns)  # --teacher human: the labelling page, URL printed
    with cli.teacher_closed(teacher), tqdm(total=config.steps, unit="step", desc=f"backflip {run_dir}",
                                       file=sys.stderr) as bar:
        def progress(m):
            bar.update(max(0, m["env_steps"] - bar.n))
            flips = m.get("eval/flips_per_episode")
            bar.set_postfix(labels=m["labels"], **({"flips": f"{flips:.2f}"} if flips is not None else {}))

        summary = backflip_run(config, Path(run_dir), launch=ns.launch_share, select_labels=ns.select_labels,
                               on_metrics=progress, teacher=teacher).run()
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    cli.main_guard(main)()
