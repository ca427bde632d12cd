"""Run configuration: one frozen dataclass, each field documented, checked on construction."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from prefrl.queries import ENSEMBLE_SELECTORS, SELECTORS, pretrain_labels

ALGOS = ("ppo", "a2c")
NORMALISE = ("recent", "labelled", "initial")
INPUT_NORMS = ("none", "labelled")
TEACHERS = ("oracle", "human")
PLAN_ELITES = ("r_hat", "teacher")
MIN_PRETRAIN_LABELS = 4


class ConfigError(ValueError):
    """A configuration a run cannot start from; the message says what to change."""


def arg(default: Any, help: str, rl: bool = False) -> Any:
    """A config field with its command-line help; ``rl``: a setting of the RL itself, which a
    true-reward baseline has too (results group baselines by these)."""
    return field(default=default, metadata={"help": help, "rl": rl})


def layer_widths(text: str, flag: str = "--policy-layers") -> list[int]:
    """``256x256`` -> [256, 256]; empty -> [] (SB3's default network). A clear error otherwise."""
    if not text:
        return []
    widths = text.split("x")
    if not all(w.isdigit() and int(w) > 0 for w in widths):
        raise ConfigError(f"{flag} must be hidden layer widths joined by x, e.g. 256x256, got {text!r}")
    return [int(w) for w in widths]


@dataclass(frozen=True)
class RunConfig:
    env: str = arg("Hopper", "task name, e.g. Hopper, Walker2d, HalfCheetah (see envs.task_names())")
    labels: int = arg(700, "label budget: queries answered over the whole run")
    steps: int = arg(1_000_000, "environment steps of RL")
    seed: int = arg(0, "seed for everything: envs, agent, queries, oracle, reward model")
    true_reward: bool = arg(False, "baseline: the agent learns the environment's reward, no labels")
    scale_true_reward: bool = arg(False, "baseline only: the agent learns the true reward standardised on "
                                         "recent behaviour (mean 0, std 1, renewed after each chunk), as "
                                         "r_hat is, instead of its raw scale")
    algo: str = arg("ppo", "RL algorithm: ppo or a2c (stable-baselines3)", rl=True)
    ent_coef: float = arg(0.0, "entropy bonus in the RL loss (the paper's TRPO used 0.01)", rl=True)
    gsde_every: int = arg(0, "exploration noise: 0 draws independent Gaussian action noise every step; n > 0 uses "
                               "generalized state-dependent exploration (gSDE, PPO/A2C use_sde), its noise matrix "
                               "redrawn every n steps: smooth, temporally correlated motions", rl=True)
    log_std_init: float = arg(0.0, "initial log std of the Gaussian action noise (PPO/A2C); 0: the task's own "
                                   "(std 1, SB3's default, on the paper tasks; the backflip's -0.5). Smaller "
                                   "starts with gentler flailing, e.g. -1 (std 0.37). Not with --gsde-every, which "
                                   "sets its own noise scale", rl=True)
    gae_lambda: float = arg(0.0, "lambda of the RL's generalised advantage estimates (PPO/A2C); 0: the task's own "
                                 "(0.97 on the paper tasks, 0.95 on the backflip). Nearer 1 carries credit further "
                                 "back from a late payoff at more variance, e.g. 0.99", rl=True)
    gamma: float = arg(0.0, "discount of the RL (PPO/A2C; not the teacher's, see --oracle-gamma); 0: the task's own "
                            "(0.995 on the paper tasks and the backflip, the paper's). Nearer 1 values reward further "
                            "ahead, e.g. 0.9999 (rl-baselines3-zoo's for Swimmer; see experiments/results/swimmer_setting_1M)",
                       rl=True)
    policy_layers: str = arg("", "hidden layer widths of the policy network (PPO/A2C), e.g. 256x256; empty: SB3's "
                                 "64x64", rl=True)
    value_layers: str = arg("", "hidden layer widths of the value network (PPO/A2C), e.g. 256x256: a wider critic "
                                "than the policy (Andrychowicz et al. 2021 found it helps on MuJoCo); empty: SB3's "
                                "64x64", rl=True)
    obs_norm: bool = arg(False, "the policy and value function see observations standardised by a running mean and "
                                "std of those the agent has met (updated after each PPO rollout, kept in policy.zip); "
                                "rewards and the reward model's inputs are untouched. Off: raw observations", rl=True)
    return_norm: bool = arg(False, "the agent's reward (r_hat, or the true reward) divided by the running std of its "
                                   "discounted return, clipped to +-10, as SB3's VecNormalize does it (rl-baselines3-"
                                   "zoo's MuJoCo settings): PPO's value targets stay near 1 whatever the reward's "
                                   "scale. Off: the reward as it is", rl=True)
    teacher: str = arg("oracle", "who answers queries: oracle (scripted) or human (browser page)")
    selector: str = arg("disagreement", "query selection: uniform, disagreement, entropy, kcenter or optimistic "
                                       "(prefrl.queries)")
    segment_seconds: float = arg(0.0, "segment length in seconds of simulated time; 0: the task's default "
                                      "(paper tasks: the paper's 15-60 steps; others: 1.5 s)")
    pretrain_fraction: float = arg(0.25, "share of the label budget gathered before RL starts")
    label_horizon: float = arg(2e6, "labelling rate after pretraining: proportional to h / (T + h), T = env steps "
                                    "so far (the paper's MuJoCo h = 2e6; Atari 5e6); a smaller h asks more of the "
                                    "budget early, e.g. 5e4 reaches half of the post-pretraining labels by ~180k of "
                                    "1M steps instead of ~450k")
    pretrain_steps: int = arg(16_384, "env steps of the initial policy recorded for the first queries "
                              "(rounded up to whole episodes)")
    explore_steps: int = arg(0, "unsupervised exploration first (PEBBLE, Lee et al. 2021): env steps in which the "
                                "agent learns a state-entropy reward (prefrl.explore) instead of r_hat; the "
                                "pretraining labels are then asked on the exploring policy's clips and the label "
                                "schedule runs over the steps left. 0: off, the paper's method")
    reward_model: str = arg("", "a finished run's reward_model.npz: the agent learns that r_hat, frozen (no labels "
                                "asked, never refitted; renormalised on recent behaviour after each chunk as usual). "
                                "Separates learning r_hat from RL on it, e.g. PPO from scratch on a run's final r_hat. "
                                "'': learn r_hat from labels")
    plan_iterations: int = arg(0, "planning on r_hat before RL (prefrl.planner): iterations of the cross-entropy method "
                                  "over open-loop action plans rated by r_hat, each asking --plan-queries labels on "
                                  "the planner's clips and refitting r_hat; then the policy imitates the best plans "
                                  "and RL on r_hat takes over. Planner steps count as env steps. 0: off, the "
                                  "paper's method")
    plan_queries: int = arg(4, "labels asked per planner iteration (--plan-iterations), out of --labels")
    plan_elites: str = arg("r_hat", "the plans the planner moves toward each iteration: r_hat (the 8 it rates "
                                    "best; the --plan-queries ask about its most optimistic plans, each against "
                                    "another) or teacher (r_hat's 2 x --plan-queries most optimistic plans are "
                                    "paired at random, the teacher answers each pair, and the winners are the "
                                    "elites: the search climbs the teacher's answers, r_hat only shortlists)")
    rune_beta: float = arg(0.0, "exploration bonus from the reward model's uncertainty (RUNE, Liang et al. 2022): the "
                                "agent's reward is r_hat + w * (std over the ensemble's members of their normalised "
                                "rewards), w = rune_beta at the first labels, halving every --rune-half-life env "
                                "steps; pulls the agent toward states its reward model has not learned to judge. "
                                "0: off, the paper's method")
    rune_half_life: int = arg(250_000, "env steps over which the RUNE bonus weight halves")
    oversample: int = arg(10, "candidate pairs per query for disagreement selection")
    n_envs: int = arg(8, "parallel environments (DummyVecEnv)", rl=True)
    train_episode_steps: int = arg(0, "length of the agent's training episodes in steps, shorter than the task's "
                                      "fixed episode (truncated, the value bootstrapped; e.g. 200 of Walker2d's 1000): "
                                      "more of the experience starts from the reset posture, not from a body lying "
                                      "where it fell. Evaluations keep the task's full episode. 0: the task's own",
                                   rl=True)
    train_episode_growth: float = arg(0.0, "share of --steps over which the training episodes grow, linearly, from "
                                           "--train-episode-steps to the task's own length (e.g. 0.5: 200 steps "
                                           "at the start, the whole 1000 from half-way on), so that the agent "
                                           "learns from the reset posture first and ends trained on the episode it "
                                           "is evaluated on. 0: they stay at --train-episode-steps", rl=True)
    train_down_seconds: float = arg(0.0, "training episodes also end once the body has been down (in the state in "
                                         "which the v5 task would have ended: fallen, torso too low or tilted) this "
                                         "many seconds of simulated time in a row, e.g. 1: little of the experience "
                                         "is a body lying where it fell, and a body that stays up trains on whole "
                                         "episodes. A truncation (the value bootstrapped), not a termination: the "
                                         "end says nothing about the reward. Evaluations keep the task's full "
                                         "episode. 0: off", rl=True)
    restart_at: int = arg(0, "a restart for a policy that starts badly: at the first chunk that ends at or after "
                             "this many env steps, if the agent's mean r_hat per step over that chunk "
                             "(train/mean_r_hat) is below --restart-below, its policy is replaced by a new one "
                             "(seeded --seed + 100000), which learns for the steps left; labels, r_hat and the step "
                             "count carry on. Checked once. 0: never")
    restart_below: float = arg(0.0, "see --restart-at: the mean r_hat per step below which the policy is replaced, "
                                    "in the agent's reward units (r_hat normalised by --normalise to --reward-std)")
    chunk_steps: int = arg(16_384, "environment steps between label gathering and reward-model fits")
    members: int = arg(3, "reward-model ensemble members (1: a single model, an ablation)")
    offline: bool = arg(False, "ablation: every label from the initial policy, r_hat fitted once, never refitted")
    fixed_l2: bool = arg(False, "ablation: keep the l2 strength fixed instead of adapting it")
    normalise: str = arg("recent", "what r_hat is normalised to mean 0, std --reward-std on after each fit: recent (the "
                                   "latest steps of behaviour, as the paper) or labelled (every step of the "
                                   "segments labelled so far: a reference that drifts slowly, so the agent's "
                                   "reward keeps rising as it improves) or initial (every step of the "
                                   "pretraining labels' segments, the initial policy's behaviour: a fixed "
                                   "reference, so r_hat's scale grows with the agent as a raw reward's does)")
    reward_std: float = arg(1.0, "the std the agent's reward is normalised to (r_hat, and the true reward with "
                                 "--scale-true-reward), on the steps --normalise names; 1 as the paper. Its scale "
                                 "sets how PPO's value loss weighs against the policy's in the clipped gradient",
                            rl=True)
    input_norm: str = arg("none", "reward-model inputs: none (raw observations and actions, as the paper) or "
                                  "labelled (each feature standardised on the segments labelled so far, "
                                  "updated at each fit without changing r_hat, so the fit and its l2 treat "
                                  "small-spread features such as a torso's height like large ones)")
    crop: float = arg(1.0, "temporal cropping of labelled pairs while fitting r_hat (SURF, Park et al. 2022): each "
                           "minibatch's pairs are cut to a random length in [crop * T, T] steps, the two clips of a "
                           "pair at independent offsets, so the fit cannot lean on where in a clip things happen. "
                           "1: whole clips, the paper's method")
    pseudo_threshold: float = arg(0.0, "semi-supervised r_hat (SURF): each fit also trains on fresh unlabelled pairs "
                                       "of recent clips whose ensemble P[left preferred] is beyond this either way "
                                       "(e.g. 0.99), the ensemble's answer as their label; 0: off, the paper's method")
    reward_tau: float = arg(1.0, "the agent learns a Polyak average of r_hat: after each fit its copy's weights move "
                                 "this share of the way to the fitted ensemble's, then it is normalised as r_hat is, "
                                 "so a refit moves the agent's reward by about this share (queries, fits and metrics "
                                 "use the fitted ensemble); 1: the fitted ensemble itself, the paper's method")
    fit_steps_initial: int = arg(500, "reward-model minibatch steps after pretraining labels")
    fit_steps: int = arg(30, "reward-model minibatch steps after each chunk")
    eval_every: int = arg(100_000, "environment steps between evaluations on the true reward")
    eval_episodes: int = arg(5, "episodes per evaluation (deterministic policy)")
    final_eval_episodes: int = arg(10, "episodes of the final evaluation")
    oracle_score: str = arg("true_reward", "oracle's per-step score of a segment (see synthetic_oracle.SCORES)")
    oracle_beta: float = arg(math.inf, "oracle Boltzmann rationality (inf: always the larger return)")
    oracle_gamma: float = arg(1.0, "oracle myopic discount (1: not myopic)")
    oracle_epsilon: float = arg(0.0, "oracle mistake probability")
    oracle_skip_threshold: float = arg(-math.inf, "oracle skips when both returns are at most this")
    oracle_equal_threshold: float = arg(0.0, "oracle says equal when returns differ by at most this")

    def __post_init__(self):
        from envs import task_names

        positive = ("labels", "steps", "label_horizon", "pretrain_steps", "oversample", "n_envs", "chunk_steps",
                    "members", "rune_half_life", "eval_every", "eval_episodes", "final_eval_episodes")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be positive, got {getattr(self, name)}")
        if not math.isfinite(self.label_horizon):
            raise ConfigError(f"--label-horizon must be a finite number of env steps, got {self.label_horizon}")
        for name in ("seed", "fit_steps", "fit_steps_initial", "ent_coef", "gsde_every", "explore_steps", "rune_beta",
                     "train_episode_steps", "plan_iterations", "plan_queries", "restart_at"):
            if getattr(self, name) < 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be >= 0, got {getattr(self, name)}")
        if self.log_std_init and self.gsde_every:
            raise ConfigError("--log-std-init sets the Gaussian action noise; --gsde-every replaces it with gSDE's, "
                              "which sets its own scale: drop one of them")
        if not (math.isfinite(self.reward_std) and self.reward_std > 0):
            raise ConfigError(f"--reward-std must be a positive number, got {self.reward_std}")
        if not 0 < self.reward_tau <= 1:
            raise ConfigError(f"--reward-tau must be in (0, 1] (1: no averaging), got {self.reward_tau}")
        if self.reward_tau < 1 and self.reward_model:
            raise ConfigError("--reward-tau averages a reward model that is refitted; --reward-model is frozen: "
                              "drop one of them")
        if not 0 <= self.gamma <= 1:
            raise ConfigError(f"--gamma must be in [0, 1] (0: the task's own), got {self.gamma}")
        if not 0 <= self.gae_lambda <= 1:
            raise ConfigError(f"--gae-lambda must be in [0, 1] (0: the task's own), got {self.gae_lambda}")
        if not 0 <= self.train_episode_growth <= 1:
            raise ConfigError(f"--train-episode-growth must be in [0, 1] (a share of --steps; 0: no growth), "
                              f"got {self.train_episode_growth}")
        if self.train_episode_growth and not self.train_episode_steps:
            raise ConfigError("--train-episode-growth grows the training episodes from --train-episode-steps to the "
                              "task's own length; without --train-episode-steps they are that length already: "
                              "add --train-episode-steps or drop --train-episode-growth")
        if not (math.isfinite(self.train_down_seconds) and self.train_down_seconds >= 0):
            raise ConfigError(f"--train-down-seconds must be a number of seconds >= 0 (0: off), "
                              f"got {self.train_down_seconds}")
        for name in ("policy_layers", "value_layers"):
            layer_widths(getattr(self, name), f"--{name.replace('_', '-')}")
        if not math.isfinite(self.log_std_init):
            raise ConfigError(f"--log-std-init must be a finite number, got {self.log_std_init}")
        if self.env not in task_names():
            raise ConfigError(f"unknown env {self.env!r}; known: {', '.join(task_names())}")
        for name, allowed in (("algo", ALGOS), ("teacher", TEACHERS), ("selector", SELECTORS),
                              ("normalise", NORMALISE), ("input_norm", INPUT_NORMS),
                              ("plan_elites", PLAN_ELITES)):
            if getattr(self, name) not in allowed:
                raise ConfigError(f"unknown {name} {getattr(self, name)!r}; known: {', '.join(allowed)}")
        if self.members == 1 and self.selector in ENSEMBLE_SELECTORS:
            raise ConfigError(f"--selector {self.selector} needs an ensemble; with --members 1 use uniform, "
                              "entropy, kcenter or optimistic")
        if self.rune_beta and (self.members == 1 or self.true_reward):
            raise ConfigError("--rune-beta adds the reward ensemble's disagreement to r_hat: it needs --members 2 or "
                              "more and no --true-reward; drop one of them")
        from synthetic_oracle import SCORES

        if self.oracle_score not in SCORES:
            raise ConfigError(f"unknown oracle score {self.oracle_score!r}; known: {', '.join(SCORES)}")
        try:
            self.oracle()
        except ValueError as e:
            raise ConfigError(str(e)) from e
        if not 0 <= self.segment_seconds <= 60:
            raise ConfigError(f"--segment-seconds must be in [0, 60] (0: the task's default), got {self.segment_seconds}")
        if not 0 < self.crop <= 1:
            raise ConfigError(f"--crop must be in (0, 1] (1: whole clips), got {self.crop}")
        if self.pseudo_threshold and not 0.5 < self.pseudo_threshold < 1:
            raise ConfigError(f"--pseudo-threshold must be 0 (off) or in (0.5, 1), e.g. 0.99; got {self.pseudo_threshold}")
        if (self.crop < 1 or self.pseudo_threshold) and (self.true_reward or self.reward_model):
            raise ConfigError("--crop and --pseudo-threshold shape how r_hat is fitted to labels; with --true-reward "
                              "or --reward-model nothing is fitted: drop one of them")
        if not 0 < self.pretrain_fraction <= 1:
            raise ConfigError(f"--pretrain-fraction must be in (0, 1], got {self.pretrain_fraction}")
        pre = pretrain_labels(self.labels, self.pretrain_share)
        if self.scale_true_reward and not self.true_reward:
            raise ConfigError("--scale-true-reward applies to the true-reward baseline: add --true-reward or drop it")
        if self.explore_steps and self.true_reward:
            raise ConfigError("--explore-steps explores before the first labels; the true-reward baseline asks "
                              "none: drop one of them")
        if self.plan_elites != "r_hat" and not self.plan_iterations:
            raise ConfigError("--plan-elites chooses how the planner moves; without --plan-iterations there is no "
                              "planner: add --plan-iterations or drop --plan-elites")
        if self.plan_iterations:
            for flag, clash in (("--true-reward", self.true_reward), ("--reward-model", self.reward_model),
                                ("--offline", self.offline), ("--explore-steps", self.explore_steps)):
                if clash:
                    raise ConfigError(f"--plan-iterations plans on r_hat while asking labels; drop {flag}")
            if self.plan_elites == "teacher" and self.plan_queries < 2:
                raise ConfigError(f"--plan-elites teacher moves the search toward the winners of --plan-queries pairs; "
                                  f"it needs --plan-queries >= 2, got {self.plan_queries}")
            if self.plan_iterations * self.plan_queries > self.labels - pre:
                raise ConfigError(f"--plan-iterations {self.plan_iterations} x --plan-queries {self.plan_queries} asks "
                                  f"more than the {self.labels - pre} labels left after pretraining: lower one of "
                                  "them or raise --labels")
        if self.restart_at:
            for flag, clash in (("--true-reward", self.true_reward), ("--offline", self.offline)):
                if clash:
                    raise ConfigError(f"--restart-at judges the policy by the r_hat it learns, refitted as labels "
                                      f"come; drop {flag} or --restart-at")
            if not self.explore_steps < self.restart_at < self.steps:
                raise ConfigError(f"--restart-at must come after --explore-steps ({self.explore_steps}) and before "
                                  f"--steps ({self.steps}), got {self.restart_at}")
        elif self.restart_below:
            raise ConfigError("--restart-below is the threshold of --restart-at: add --restart-at or drop it")
        if not math.isfinite(self.restart_below):
            raise ConfigError(f"--restart-below must be a finite number, got {self.restart_below}")
        if self.explore_steps >= self.steps:
            raise ConfigError(f"--explore-steps {self.explore_steps} leaves no steps to learn from labels in "
                              f"--steps {self.steps}: make it smaller")
        if self.reward_model:
            for flag, clash in (("--true-reward", self.true_reward), ("--explore-steps", self.explore_steps),
                                ("--offline", self.offline), ("--normalise labelled/initial", self.normalise != "recent"),
                                ("--teacher human", self.teacher == "human"),
                                ("--input-norm labelled (the given model keeps its own input scaling)",
                                 self.input_norm != "none")):
                if clash:
                    raise ConfigError(f"--reward-model gives a frozen r_hat and asks no labels; drop {flag}")
            if not Path(self.reward_model).is_file():
                raise ConfigError(f"--reward-model {self.reward_model}: no such file; give a finished run's "
                                  "reward_model.npz")
        elif not self.true_reward and pre < MIN_PRETRAIN_LABELS:
            need = math.ceil(MIN_PRETRAIN_LABELS / self.pretrain_share)
            raise ConfigError(
                f"label budget {self.labels} gives {pre} pretraining labels; the reward model needs "
                f"at least {MIN_PRETRAIN_LABELS}: use --labels {need} or more"
            )

    @property
    def pretrain_share(self) -> float:
        """Share of labels asked before RL: all of them for the offline ablation."""
        return 1.0 if self.offline else self.pretrain_fraction

    def oracle(self):
        """The synthetic judge these settings describe."""
        from synthetic_oracle import SCORES, ReturnOracle

        return ReturnOracle(self.oracle_beta, self.oracle_gamma, self.oracle_epsilon, self.oracle_skip_threshold,
                            self.oracle_equal_threshold, SCORES[self.oracle_score])

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
