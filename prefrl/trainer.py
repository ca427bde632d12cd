"""The preference-learning loop (Christiano et al. 2017, §2.2), top to bottom.

    record the initial policy -> ask 25% of the labels -> fit r_hat
    repeat: RL on r_hat for a chunk -> ask the labels due -> refit r_hat -> log metrics

With ``true_reward`` the same loop runs with the environment's reward and no labels: the
baseline. The agent's rewards come only from ``LearnedRewardWrapper``; the true reward is
read only by the synthetic oracle (through recorded segments) and by evaluation.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.utils import configure_logger

from prefrl import agents, planner, run_dir
from prefrl.config import ConfigError, RunConfig
from prefrl.explore import StateEntropyReward
from prefrl.population import Member, keep_step
from prefrl.queries import Query, labels_due, select_pairs
from prefrl.reward_model import (
    FitConfig,
    PreferenceData,
    RewardEnsemble,
    RewardTrainer,
    preference_accuracy,
    same_order,
)
from prefrl.reward_wrapper import LearnedRewardWrapper, ReturnScaledReward, ScaledTrueRewardWrapper
from prefrl.run_dir import Checkpoint, CpuClock
from prefrl.segments import Segment, SegmentRecorder, sample_segments
from prefrl.store import Label, LabelStore
from prefrl.teachers import OracleTeacher, Teacher

AGREEMENT_PAIRS = 64  # fresh segment pairs for the r_hat vs true-reward ordering metric
NORMALISE_ROWS = 20_000  # recent steps used to normalise r_hat
PSEUDO_PAIRS = 256  # fresh unlabelled segment pairs offered for pseudo-labels at each fit (SURF)
RESTART_SEED = 100_000  # --restart-at: the new policy's seed is the run's plus this (no population member's)


LABEL_POLL_SECONDS = 1.0  # how often to look for a person's labels while waiting
# Parts of a run's CPU time that only the preference loop spends (a true-reward run spends none):
# r_hat on every env step, choosing and asking queries, fitting r_hat, the agreement metric and the
# rollouts recorded for the pretraining labels, and planning on r_hat (its rollouts and behaviour cloning).
PREFERENCE_PARTS = ("reward_per_step", "queries", "fit", "agreement", "pretrain_rollouts", "planning")


def make_oracle_teacher(config: RunConfig, rng: np.random.Generator) -> Teacher:
    return OracleTeacher(config.oracle(), rng)


class PreferenceRun:
    def __init__(self, config: RunConfig, path: Path, teacher: Teacher | None = None,
                 on_metrics: Callable[[dict[str, Any]], None] | None = None, member: Member | None = None):
        """``member``: this run is one policy of a population (prefrl.population) sharing its
        label store and budget; ``config.seed`` is then the member's own."""
        torch.set_num_threads(1)
        torch.manual_seed(config.seed)
        self.config = config
        given = self.given_reward_model() if config.reward_model else None  # checked before the run dir is made
        episode_steps = agents.training_episode_steps(config)  # likewise
        down_steps = agents.training_down_steps(config)  # likewise
        self.path = run_dir.prepare(path, config)
        self.rng = np.random.default_rng(config.seed)
        self.on_metrics = on_metrics or (lambda m: None)
        self.member = member
        self.metrics = run_dir.MetricsLog(self.path / "metrics.jsonl")
        self.segment_steps = agents.segment_steps(config)
        round_steps = config.n_envs * episode_steps  # one episode in every env
        self.pretrain_steps = round_steps * -(-config.pretrain_steps // round_steps)
        self.recorder = SegmentRecorder(agents.make_vec_env(config.env, config.n_envs, config.seed, episode_steps,
                                                            down_steps),
                                        keep_episodes=self.episodes_kept(episode_steps))
        self.horizon = episode_steps
        venv = self.recorder
        if not config.true_reward:
            self.store = LabelStore(member.store if member else self.path / "labels.sqlite")
            self.teacher = teacher or make_oracle_teacher(config, np.random.default_rng([config.seed, 1]))
            self.reward_obs = agents.reward_obs(config.env)
            self.reward_model = (given if given is not None
                                 else RewardEnsemble(agents.reward_input_dim(config.env), config.members))
            self.reward_trainer = RewardTrainer(self.reward_model, FitConfig(adaptive_l2=not config.fixed_l2,
                                                                             crop=config.crop))
            self.data = PreferenceData.empty(self.reward_model.members, self.segment_steps, self.reward_model.in_dim)
            self._seen_label_ids: set[int] = set()
            self._fitted = False  # whether r_hat has been fitted (input standardisation keeps it then)
            # what the agent learns: r_hat itself, or (reward_tau < 1) a Polyak average of it
            self.agent_reward_model = (copy.deepcopy(self.reward_model) if config.reward_tau < 1
                                       else self.reward_model)
            venv = self.reward_wrapper = LearnedRewardWrapper(self.recorder, self.agent_reward_model, self.reward_obs)
        elif config.scale_true_reward:
            venv = self.reward_scaler = ScaledTrueRewardWrapper(self.recorder)
        if config.return_norm:
            venv = self.return_scaler = ReturnScaledReward(venv)
        self.checkpoint = Checkpoint(self.path / "checkpoint")
        if self.checkpoint.exists():
            self.agent = self.restore(venv)
        else:
            self.agent = self.new_agent(venv)
        if config.return_norm:
            self.return_scaler.gamma = self.agent.gamma  # the agent's discount, the task's own or --gamma
        if not config.true_reward and self.agent.num_timesteps < config.explore_steps:
            # a new run, or one killed while exploring: its reference states start afresh
            self.reward_wrapper.explorer = StateEntropyReward(self.recorder.observation_space.shape[0])
        self.learn_callback = agents.learn_callback(config)
        resumed = self.checkpoint.state() if self.checkpoint.exists() else {}
        self.start_time = time.time() - resumed.get("wall_time", 0.0)
        # CPU time of this process (one torch thread): the loop's cost whatever else the machine runs
        self.start_cpu = time.process_time() - resumed.get("cpu_time", 0.0)
        self.clock = CpuClock(resumed.get("cpu_parts"))
        # read now, with the code just loaded: a checkout changed under a running run is not its code
        self.provenance = run_dir.provenance()
        self.plan_env_steps = resumed.get("plan_env_steps", 0)  # env steps of planning on r_hat
        self.restarted_at = resumed.get("restarted_at")  # the env steps at which the policy was replaced, if it was
        if not config.true_reward:
            self.reward_wrapper.clock = self.clock  # r_hat per env step, as "reward_per_step"

    def given_reward_model(self) -> RewardEnsemble:
        """``reward_model``: a finished run's ensemble, to be learned frozen."""
        in_dim = agents.reward_input_dim(self.config.env)
        try:
            model = RewardEnsemble.from_npz(Path(self.config.reward_model).read_bytes())
        except (OSError, ValueError, KeyError) as e:
            raise ConfigError(f"--reward-model {self.config.reward_model} is not a reward_model.npz ({e})") from e
        if model.in_dim != in_dim:
            raise ConfigError(f"--reward-model {self.config.reward_model} reads {model.in_dim} inputs; {self.config.env}'s "
                              f"reward model reads {in_dim}: give one from a run of this task")
        return model

    def new_agent(self, venv, seed: int | None = None):
        """The agent of a new run, learning on ``venv``, seeded ``seed`` (default: the run's); a task with
        its own settings overrides this."""
        return agents.make_agent(self.seeded(seed), venv, str(self.path))

    def seeded(self, seed: int | None) -> RunConfig:
        """The run's config with ``seed`` in place of its seed (None: as it is)."""
        return self.config if seed is None else dataclasses.replace(self.config, seed=seed)

    def restore(self, venv):
        """Resume a killed run: agent, reward model and l2 from the checkpoint, labels from the store."""
        agent = self.agent = agents.load_agent(self.config, self.checkpoint.policy, venv, str(self.path))
        if self.config.scale_true_reward:
            self.reward_scaler.mean, self.reward_scaler.std = self.checkpoint.state()["true_reward_scale"]
        if self.config.return_norm:
            self.return_scaler.load_state(self.checkpoint.state()["return_scale"])
        if not self.config.true_reward:
            saved = RewardEnsemble.from_npz(self.checkpoint.reward_model.read_bytes())
            self.reward_model.load_state_dict(saved.state_dict())
            if self.averaged:
                saved = RewardEnsemble.from_npz(self.checkpoint.agent_reward_model.read_bytes())
                self.agent_reward_model.load_state_dict(saved.state_dict())
            self.reward_trainer.l2 = torch.as_tensor(self.checkpoint.state()["l2"])
            self._fitted = True
            self.ingest()
        self.metrics.truncate(agent.num_timesteps)
        return agent

    # ------------------------------------------------------------------ the loop
    def run(self) -> dict[str, Any]:
        cfg = self.config
        clock = self.clock
        if not (cfg.true_reward or cfg.explore_steps or self.checkpoint.exists()):
            with clock("pretrain_rollouts"):
                agents.collect(self.agent, self.recorder, self.pretrain_steps)
            self.pretrain()
            if cfg.plan_iterations:
                self.plan()
        if cfg.scale_true_reward and not self.checkpoint.exists():
            with clock("pretrain_rollouts"):
                agents.collect(self.agent, self.recorder, self.pretrain_steps)  # as the preference run does
            with clock("rescale_true_reward"):
                self.rescale_true_reward()
        # Evaluate after the first chunk, then every eval_every steps; a resumed run keeps that grid.
        resumed = self.checkpoint.state() if self.checkpoint.exists() else {}
        self.next_eval = resumed.get("next_eval", getattr(self, "next_eval", self.agent.num_timesteps))
        while self.agent.num_timesteps < cfg.steps:
            end = cfg.explore_steps if self.exploring else cfg.steps
            if cfg.rune_beta:
                self.reward_wrapper.bonus = self.rune_weight(self.agent.num_timesteps)
            if cfg.train_episode_growth:
                self.grow_horizon(self.agent.num_timesteps)
            before = self.agent.num_timesteps
            self.agent.learn(min(cfg.chunk_steps, end - before), reset_num_timesteps=False,
                             tb_log_name="tb", callback=self.learn_callback)
            steps = self.agent.num_timesteps
            metrics: dict[str, Any] = {"exploring": True} if self.exploring else {}
            if self.exploring and steps >= cfg.explore_steps:
                self.reward_wrapper.explorer = None
                metrics |= self.pretrain()
            elif cfg.reward_model:
                with clock("fit"):
                    self.renormalise()  # frozen r_hat: only its normalisation follows the behaviour
            elif not (cfg.true_reward or cfg.offline or self.exploring):
                metrics |= self.ask(self.labels_due(steps))
                metrics |= self.fit(cfg.fit_steps)
            if not (cfg.true_reward or self.exploring):
                with clock("agreement"):
                    metrics["rm/agreement"] = self.agreement()
            if cfg.scale_true_reward:
                with clock("rescale_true_reward"):
                    self.rescale_true_reward()
            if steps >= self.next_eval or steps >= cfg.steps:
                with clock("evaluation"):
                    metrics |= agents.evaluate(self.agent, cfg.env, cfg.eval_episodes,
                                               cfg.seed + 10_000 + steps).metrics("eval/")
                self.next_eval = steps + cfg.eval_every
            record = self.log(metrics)
            if cfg.restart_at and before < cfg.restart_at <= steps and record["train/mean_r_hat"] < cfg.restart_below:
                self.restart()
            with clock("checkpoint"):
                self.save_checkpoint()
        return self.finish()

    @staticmethod
    def episodes_kept(episode_steps: int) -> int:
        """Episodes the recorder keeps for queries: about 32k steps of the latest behaviour."""
        return max(32, 32_000 // episode_steps)

    def grow_horizon(self, steps: int) -> None:
        """``train_episode_growth``: lengthen the training episodes to their length at ``steps``."""
        horizon = agents.training_horizon(self.config, steps)
        if horizon != self.horizon:
            agents.set_training_horizon(self.recorder, horizon)
            self.recorder.keep(self.episodes_kept(horizon))
            self.horizon = horizon

    def features(self, segments: list[Segment]) -> np.ndarray:
        """Reward-model inputs of segments of one length: the observation entries the task's
        reward model reads (``agents.reward_obs``) and the actions. (n, T, in_dim)"""
        return np.stack([s.features(self.reward_obs) for s in segments])

    # ------------------------------------------------------------------ stages
    @property
    def restart_checked(self) -> bool:
        """``restart_at``: whether the policy has been judged, in the chunk that crossed that step."""
        return bool(self.config.restart_at) and self.agent.num_timesteps >= self.config.restart_at

    def restart(self) -> None:
        """``restart_at``: a new policy (seed + RESTART_SEED) in place of the agent's, counting on from
        the agent's env steps; it first resets the envs (episodes under way are dropped)."""
        steps = self.agent.num_timesteps
        self.agent = self.new_agent(self.agent.get_env(), self.config.seed + RESTART_SEED)
        self.agent.num_timesteps = steps
        self.restarted_at = steps

    @property
    def exploring(self) -> bool:
        """In unsupervised exploration (``explore_steps``): no labels yet, the agent learns the
        intrinsic reward."""
        return not self.config.true_reward and self.reward_wrapper.explorer is not None

    def rune_weight(self, steps: int) -> float:
        """Weight of the RUNE bonus at ``steps``: ``rune_beta``, halving every ``rune_half_life`` steps
        after exploration."""
        cfg = self.config
        return cfg.rune_beta * 0.5 ** (max(0, steps - cfg.explore_steps) / cfg.rune_half_life)

    def labels_due(self, steps: int) -> int:
        """Labels due by ``steps``: the schedule runs over the steps after exploration."""
        cfg, start = self.config, self.config.explore_steps
        return labels_due(max(0, steps - start), cfg.steps - start, cfg.labels, cfg.pretrain_share, cfg.label_horizon)

    def pretrain(self) -> dict[str, float]:
        """The pretraining share of the labels, on the clips recorded so far, then the first fit
        (with a given, frozen ``reward_model``: its first normalisation only)."""
        if self.config.reward_model:
            self.renormalise()
            return {}
        pretrain = self.labels_due(self.config.explore_steps)
        self.ask(pretrain)
        self.wait_for_labels(pretrain)
        return self.fit(self.config.fit_steps_initial)

    def plan(self) -> None:
        """Planning on r_hat (``plan_iterations``, :mod:`prefrl.planner`): CEM iterations that ask
        labels on the planner's clips and refit r_hat, then the policy imitates the best plans.
        Logs a metrics row per iteration, evaluates the imitating policy and saves a checkpoint."""
        cfg = self.config
        dt, length = agents.env_timing(cfg.env)
        search = planner.KnotPlanner(cfg.env, min(length, max(self.segment_steps, round(planner.PLAN_SECONDS / dt))),
                                     np.random.default_rng([cfg.seed, 2]))
        if not hasattr(self.agent, "_logger"):  # no learn() yet: the TensorBoard run learn() will continue
            self.agent.set_logger(configure_logger(self.agent.verbose, self.agent.tensorboard_log, "tb", False))
        step_reward = lambda seg: self.reward_model.predict(seg.features(self.reward_obs))  # noqa: E731
        try:
            for it in range(cfg.plan_iterations):
                with self.clock("planning"):
                    plans = search.sample(planner.CANDIDATES)
                    rollouts = search.roll(plans, self.agent.num_timesteps)
                    self.add_plan_steps(sum(r.length for r in rollouts))
                    returns = self.plan_returns(rollouts)
                metrics = {"planning": True, "plan/iteration": it,
                           "plan/mean_r_hat": float(returns.mean()),
                           "plan/true_return": float(np.mean([r.true_return for r in rollouts])),
                           "plan/best_true_return": float(max(r.true_return for r in rollouts)),
                           **self.plan_metrics(rollouts)}
                with self.clock("queries"):
                    asked = [q for q in self.store.queries() if q.gold is None]
                    n = max(min(cfg.plan_queries, cfg.labels - len(asked)), 0)
                    clips: dict[int, Segment] = {}
                    queries = []
                    pairs = (planner.teacher_pairs if cfg.plan_elites == "teacher" else planner.query_pairs)(
                        returns, n, self.rng)
                    for pair in pairs:
                        for i in pair:
                            if i not in clips:
                                clips[i] = planner.best_window(rollouts[i], self.segment_steps, step_reward)
                        queries.append(self.store.add_query(clips[pair[0]], clips[pair[1]], self.agent.num_timesteps,
                                                            "planner"))
                    self.teacher.request(queries, self.store)
                    metrics |= self.ingest()  # an oracle's answers are in; a person's are waited for
                    self.wait_for_labels(len(asked) + len(queries))
                with self.clock("planning"):
                    self.refit_search(search, plans, returns, pairs, queries)
                metrics |= self.fit(cfg.fit_steps)
                self.log(metrics)
            with self.clock("planning"):
                rollouts = search.roll(search.sample(planner.DISTIL_ROLLOUTS, planner.DISTIL_STD_SCALE),
                                       self.agent.num_timesteps)
                self.add_plan_steps(sum(r.length for r in rollouts))
                keep = np.argsort(-self.plan_returns(rollouts).mean(axis=0))[:planner.DISTIL_KEEP]
                loss = planner.distil(self.agent, [rollouts[i] for i in keep], self.rng)
        finally:
            search.close()
        with self.clock("evaluation"):
            metrics = agents.evaluate(self.agent, cfg.env, cfg.eval_episodes,
                                      cfg.seed + 10_000 + self.agent.num_timesteps).metrics("eval/")
        self.next_eval = self.agent.num_timesteps + cfg.eval_every
        self.log(metrics | {"planning": True, "plan/distil_loss": loss})
        self.save_checkpoint()

    def refit_search(self, search: planner.KnotPlanner, plans: np.ndarray, returns: np.ndarray,
                     pairs: list[tuple[int, int]], queries: list) -> None:
        """Move the search toward this iteration's elites: the plans r_hat rates best or, with
        ``--plan-elites teacher``, those the teacher chose from ``pairs`` (asked as ``queries``; by
        r_hat's rating when fewer than two were asked)."""
        if self.config.plan_elites == "r_hat" or len(pairs) < 2:
            search.refit(plans, returns.mean(axis=0))
            return
        answers = {label.query_id: label.choice for label in self.store.labels()}
        search.refit_to(plans[planner.winners(pairs, [answers[q.id] for q in queries], self.rng)])

    def plan_metrics(self, rollouts: list[Segment]) -> dict[str, float]:
        """A task's own measures of one planner iteration's rollouts (recorded, never used to plan)."""
        return {}

    def add_plan_steps(self, n: int) -> None:
        """Count ``n`` planner steps as the run's env steps."""
        self.agent.num_timesteps += n
        self.plan_env_steps += n

    def plan_returns(self, rollouts: list[Segment]) -> np.ndarray:
        """Each reward-model member's return of each planner rollout. (M, N)"""
        return np.stack([self.reward_model.predict_members(r.features(self.reward_obs)).sum(axis=1)
                         for r in rollouts], axis=1)

    def ask(self, due: int) -> dict[str, float]:
        """Ask the teacher for the queries due; ingest the labels that have arrived."""
        with self.clock("queries"):
            return self._ask(due)

    def _ask(self, due: int) -> dict[str, float]:
        mine = self.store.queries()
        if self.member:  # a population member counts the queries it asked
            owners = self.store.owners()
            mine = [q for q in mine if owners.get(q.id) == self.member.index]
        asked = sum(q.gold is None for q in mine)  # gold queries are extra
        n = (self.member.share(due) if self.member else due) - asked
        if n > 0:
            oversample = self.config.oversample if self.config.selector != "uniform" else 1
            candidates = sample_segments(list(self.recorder.episodes), 2 * n * oversample,
                                         self.segment_steps, self.rng)
            left, right = candidates[0::2], candidates[1::2]
            features = (self.features(left), self.features(right))
            picked = select_pairs(n, len(left), self.config.selector, self.reward_model.member_segment_returns,
                                  features, self.rng)
            steps = self.agent.num_timesteps
            queries = [self.store.add_query(left[i], right[i], steps, self.config.selector,
                                            member=self.member.index if self.member else None) for i in picked]
            self.teacher.request(queries, self.store)
        if self.member:
            keep_step(self.member, self.store, self.agent.num_timesteps)
        return self.ingest()

    def visible(self, answered: list[tuple[Query, Label]]) -> list[tuple[Query, Label]]:
        """The answered queries this run learns from: every one of a single run's; a population
        member's own and its peers' asked by its own step count, ordered by (step, member, query)."""
        if not self.member:
            return answered
        owners, steps = self.store.owners(), self.agent.num_timesteps
        mine = [(q, lab) for q, lab in answered
                if owners.get(q.id) == self.member.index or q.env_steps <= steps]
        return sorted(mine, key=lambda ql: (ql[0].env_steps, owners.get(ql[0].id, -1), ql[0].id))

    def labels_used(self) -> int:
        """Answered queries this run has learned from or skipped (each one label, one bit at most)."""
        return len({q.id for q, _ in self.visible(list(self.store.answered()))})

    def ingest(self) -> dict[str, float]:
        """Move labels new in the store into the training data; accuracy on them before fitting."""
        labelled = self.visible(list(self.store.training_labels()))
        if self._seen_label_ids - {lab.id for _, lab in labelled}:
            # A person undid a label already trained on: rebuild the data without it.
            self._seen_label_ids = set()
            self.data = PreferenceData.empty(self.config.members, self.segment_steps, self.reward_model.in_dim)
        new = [(q, lab) for q, lab in labelled if lab.id not in self._seen_label_ids]
        if not new:
            return {}
        self._seen_label_ids |= {lab.id for _, lab in new}
        left = self.features([self.store.segment(q.left_id) for q, _ in new])
        right = self.features([self.store.segment(q.right_id) for q, _ in new])
        targets = np.array([lab.choice.target for _, lab in new], dtype=np.float32)
        accuracy = preference_accuracy(self.reward_model, left, right, targets)
        self.data.extend(left, right, targets, self.rng)
        return {"rm/heldout_accuracy": accuracy}

    def wait_for_labels(self, n: int) -> None:
        """Block until ``n`` queries are answered (at once for an oracle; a person takes time).

        Only the pretraining share is waited for; later labels arrive while RL runs.
        """
        while self.labels_used() < n:
            self.teacher.request([], self.store)  # raises if a person's labelling page has died
            self.on_metrics({"env_steps": 0, "labels": self.labels_used(), "waiting_for_labels": n})
            time.sleep(LABEL_POLL_SECONDS)
        self.ingest()

    def fit(self, steps: int) -> dict[str, float]:
        """Train r_hat on every label so far; renormalise it on recent behaviour or, with
        ``normalise``, on every step of the labelled (or the pretraining labels') segments. With
        ``input_norm="labelled"`` its inputs are first standardised on the labelled segments."""
        with self.clock("fit"):
            return self._fit(steps)

    def _fit(self, steps: int) -> dict[str, float]:
        rows = self.recent_rows() if self._fitted else None  # the agent's reward on these, before and after
        models = {"rm/reward_shift": self.agent_reward_model}
        if self.averaged:  # and how far r_hat itself moved, as the agent's reward would without the average
            models["rm/fitted_shift"] = self.reward_model
        before = {name: model.predict(rows) for name, model in models.items()} if rows is not None else None
        if self.config.input_norm == "labelled" and len(self.data):
            self.reward_model.standardise_inputs(torch.as_tensor(self.normalisation_sample(self.data.steps().numpy())),
                                                 keep_function=self._fitted)
        metrics, pseudo = self.pseudo_labels() if self.config.pseudo_threshold and self._fitted else ({}, None)
        metrics |= self.reward_trainer.fit(self.data, steps, self.rng, pseudo)
        if self.averaged and self._fitted:
            self.agent_reward_model.move_toward(self.reward_model, self.config.reward_tau)
        elif self.averaged:  # the first fit: the average starts from it
            self.agent_reward_model.load_state_dict(self.reward_model.state_dict())
        self._fitted = True
        self.renormalise()
        if before is not None:
            for name, model in models.items():
                shift = model.predict(rows) - before[name]
                metrics[name] = float(np.sqrt(np.mean(shift ** 2))) / self.config.reward_std
        return metrics

    @property
    def averaged(self) -> bool:
        """Whether the agent learns a Polyak average of r_hat (``reward_tau`` < 1), not r_hat itself."""
        return self.agent_reward_model is not self.reward_model

    def recent_rows(self) -> np.ndarray | None:
        """Reward-model inputs of the recent episodes' steps, at most NORMALISE_ROWS of them, evenly
        spaced (no random draw, so measuring them leaves the run as it is); None before any episode."""
        if not self.recorder.episodes:
            return None
        rows = self.recent_steps()
        return rows[::-(-len(rows) // NORMALISE_ROWS)]

    def recent_steps(self) -> np.ndarray:
        """Reward-model inputs of every step of the recent episodes."""
        return np.concatenate([e.features(self.reward_obs) for e in self.recorder.episodes])

    def pseudo_labels(self) -> tuple[dict[str, float], tuple[torch.Tensor, ...] | None]:
        """SURF: fresh unlabelled pairs of recent clips that r_hat is confident on, its answer as
        the label (left, right, targets), or None; with the share that was confident and how often
        those answers match the true return's order (a check only; never used to fit)."""
        left, right, d_true = self.fresh_pairs(PSEUDO_PAIRS)
        confident, targets = self.reward_trainer.pseudo_labels(left, right, self.config.pseudo_threshold)
        metrics = {"rm/pseudo_share": float(confident.mean()),
                   "rm/pseudo_accuracy": same_order(d_true[confident], targets > 0.5)}
        if not confident.any():
            return metrics, None
        return metrics, tuple(torch.as_tensor(x) for x in (left[confident], right[confident], targets))

    def renormalise(self) -> None:
        """r_hat to mean 0, std ``reward_std`` on recent behaviour, on the labelled segments or on the
        pretraining labels' segments (``normalise``)."""
        if self.config.normalise == "labelled":
            rows = self.data.steps().numpy()
        elif self.config.normalise == "initial":
            rows = self.data.steps(first=self.labels_due(self.config.explore_steps)).numpy()
        else:
            rows = self.recent_steps()
        sample = torch.as_tensor(self.normalisation_sample(rows))
        self.reward_model.normalise(sample, self.config.reward_std)
        if self.averaged:
            self.agent_reward_model.normalise(sample, self.config.reward_std)

    def normalisation_sample(self, rows: np.ndarray) -> np.ndarray:
        """At most NORMALISE_ROWS of ``rows``, drawn without replacement."""
        return rows[self.rng.choice(len(rows), min(len(rows), NORMALISE_ROWS), replace=False)]

    def rescale_true_reward(self) -> None:
        """The baseline's counterpart of renormalising r_hat: standardise the true reward on
        recent behaviour (sampled as ``fit`` samples r_hat's rows)."""
        self.reward_scaler.renormalise(
            self.normalisation_sample(np.concatenate([e.true_reward for e in self.recorder.episodes])),
            self.config.reward_std)

    def fresh_pairs(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``n`` fresh segment pairs of recent behaviour: the left and right clips' reward-model
        inputs (n, T, D) and their true returns' differences (n,)."""
        segs = sample_segments(list(self.recorder.episodes), 2 * n, self.segment_steps, self.rng)
        true = np.array([s.true_return for s in segs])
        return self.features(segs[0::2]), self.features(segs[1::2]), true[0::2] - true[1::2]

    def agreement(self) -> float:
        """Share of fresh segment pairs (true returns differ) that r_hat orders like the truth."""
        left, right, d_true = self.fresh_pairs(AGREEMENT_PAIRS)
        return same_order(d_true, self.reward_model.segment_return(left) > self.reward_model.segment_return(right))

    # ------------------------------------------------------------------ bookkeeping
    def log(self, metrics: dict[str, Any]) -> dict[str, Any]:
        """Write this chunk's record to metrics.jsonl (and TensorBoard); returns it."""
        episodes = self.agent.ep_info_buffer or ()  # Monitor: true returns and lengths (none before RL)
        ep_returns = [ep["r"] for ep in episodes]
        learned = {}
        if not (self.config.true_reward or self.exploring):
            mean_r_hat, mean_bonus = self.reward_wrapper.pop_means()
            learned["train/mean_r_hat"] = mean_r_hat
            if self.config.rune_beta:
                learned |= {"train/rune_weight": self.reward_wrapper.bonus, "train/mean_rune_bonus": mean_bonus}
        if self.config.train_episode_growth:
            learned["train/episode_steps"] = self.horizon
        metrics = {
            "env_steps": self.agent.num_timesteps,
            "labels": 0 if self.config.true_reward else self.labels_used(),
            "wall_time": time.time() - self.start_time,
            "train/true_return": float(np.mean(ep_returns)) if ep_returns else float("nan"),
            "train/episode_length": float(np.mean([ep["l"] for ep in episodes])) if episodes else float("nan"),
            **agents.exploration_metrics(self.agent),
            **learned,
            **metrics,
        }
        for k, v in metrics.items():
            if k != "env_steps" and isinstance(v, (int, float)):
                self.agent.logger.record(f"prefrl/{k}", v)
        self.agent.logger.dump(self.agent.num_timesteps)
        self.metrics.write(metrics)
        self.on_metrics(metrics)
        return metrics

    def save_checkpoint(self) -> None:
        """Policy, reward model and l2 after this chunk; labels are already in the store."""
        state = {"env_steps": self.agent.num_timesteps, "wall_time": time.time() - self.start_time,
                 "cpu_time": time.process_time() - self.start_cpu, "cpu_parts": self.clock.parts,
                 "next_eval": self.next_eval, "plan_env_steps": self.plan_env_steps,
                 "restarted_at": self.restarted_at}
        reward_model = agent_reward_model = None
        if not self.config.true_reward:
            state["l2"] = self.reward_trainer.l2.tolist()
            reward_model = self.reward_model.to_npz()
            if self.averaged:
                agent_reward_model = self.agent_reward_model.to_npz()
        if self.config.scale_true_reward:
            state["true_reward_scale"] = [self.reward_scaler.mean, self.reward_scaler.std]
        if self.config.return_norm:
            state["return_scale"] = self.return_scaler.state()
        self.checkpoint.save(self.agent, reward_model, state, agent_reward_model)

    def finish(self) -> dict[str, Any]:
        """The final evaluation and summary.json; only then is the checkpoint removed, so a run killed
        before its summary is written resumes from its last chunk (``summarise`` adds a task's parts)."""
        summary = self.summarise()
        (self.path / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        self.checkpoint.remove()
        self.close()
        run_dir.release(self.path)
        return summary

    def summarise(self) -> dict[str, Any]:
        """Evaluate the final policy; save it and the reward model; the summary."""
        cfg = self.config
        with self.clock("evaluation"):
            final = agents.evaluate(self.agent, cfg.env, cfg.final_eval_episodes, cfg.seed + 20_000)
        self.agent.save(self.path / "policy.zip")
        cpu_time = time.process_time() - self.start_cpu
        summary = {
            "env": cfg.env,
            "true_reward": cfg.true_reward,
            "seed": cfg.seed,
            "labels": 0 if cfg.true_reward else self.labels_used(),
            "env_steps": self.agent.num_timesteps,
            "pretrain_env_steps": (self.pretrain_steps if (not cfg.true_reward or cfg.scale_true_reward)
                                   and not cfg.explore_steps else 0),
            "explore_env_steps": cfg.explore_steps,
            "plan_env_steps": self.plan_env_steps,
            "restarted_at": self.restarted_at,
            "segment_steps": self.segment_steps,
            "wall_time": time.time() - self.start_time,
            "cpu_time": cpu_time,
            **self.clock.breakdown(cpu_time, () if cfg.true_reward else PREFERENCE_PARTS),
            **final.metrics("final_"),
            "final_eval_episodes": cfg.final_eval_episodes,
            "provenance": self.provenance,
        }
        if not cfg.true_reward:
            (self.path / "reward_model.npz").write_bytes(self.reward_model.to_npz())
            if self.averaged:  # the agent's reward: the Polyak average it learned
                (self.path / self.checkpoint.agent_reward_model.name).write_bytes(self.agent_reward_model.to_npz())
        return summary

    def close(self) -> None:
        self.recorder.close()
        if not self.config.true_reward:
            self.store.close()


def train(config: RunConfig, path: Path, **kwargs) -> dict[str, Any]:
    """Run one configuration into ``path``; returns the summary also written to summary.json."""
    return PreferenceRun(config, path, **kwargs).run()

