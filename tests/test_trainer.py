"""The loop end to end on a tiny toy task (tests/toy_env.py), in-process."""

import dataclasses
import json
import os

import numpy as np
import pytest
import torch

import tests.toy_env  # noqa: F401  (registers prefrl/ToyLine-v0, prefrl/ToyLineTrap-v0)
from prefrl.cli import parse_overrides
from prefrl.config import ConfigError, RunConfig
from prefrl.reward_model import RewardEnsemble
from prefrl.trainer import PREFERENCE_PARTS, PreferenceRun, train

TINY = dict(env="ToyLine", labels=24, steps=4096, n_envs=4, chunk_steps=2048, pretrain_steps=640,
            fit_steps_initial=50, fit_steps=20, eval_every=4096, eval_episodes=2, final_eval_episodes=2)


def test_same_seed_gives_same_labels_and_same_reward_model(tmp_path):
    config = RunConfig(**TINY)
    a, b = train(config, tmp_path / "a"), train(config, tmp_path / "b")
    assert a["labels"] == b["labels"] == 24
    assert a["final_true_return"] == b["final_true_return"]
    assert (tmp_path / "a/reward_model.npz").read_bytes() == (tmp_path / "b/reward_model.npz").read_bytes()
    from prefrl.store import LabelStore

    labels = [[(lab.query_id, lab.choice) for lab in LabelStore(p / "labels.sqlite").labels()]
              for p in (tmp_path / "a", tmp_path / "b")]
    assert labels[0] == labels[1]
    metrics = [json.loads(line) for line in (tmp_path / "a/metrics.jsonl").read_text().splitlines()]
    assert metrics[-1]["env_steps"] == 4096 and metrics[-1]["labels"] == 24
    assert {"rm/agreement", "train/mean_r_hat", "eval/true_return"} <= set(metrics[-1])


class RecordingRun(PreferenceRun):
    """Keeps the reward model as it was before each refit."""

    def fit(self, steps):
        self.snapshots = [*getattr(self, "snapshots", []), RewardEnsemble.from_npz(self.reward_model.to_npz())]
        return super().fit(steps)


def last_rollout(run, read_obs, members=False):
    """(observations, rewards the agent got, r_hat of the reward model before the last refit on
    the entries ``read_obs`` and the actions (with ``members``: each member's reward, (M, N)),
    time-limit steps) of the agent's last rollout."""
    buffer = run.agent.rollout_buffer  # the last rollout, collected before the last refit
    obs = buffer.observations.reshape(len(buffer.rewards.reshape(-1)), -1)
    actions = np.clip(buffer.actions.reshape(-1, 1), -1, 1)
    features = torch.as_tensor(np.concatenate([obs[:, read_obs], actions], 1), dtype=torch.float32)
    model = run.snapshots[-1]
    with torch.no_grad():
        r_hat = model.member_rewards(features) if members else model(features)
    rewards, last_step = rollout_rewards(buffer)
    return obs, rewards, r_hat.numpy(), last_step


def rollout_rewards(buffer):
    """(rewards, time-limit steps) of the agent's last rollout, env-major like its observations:
    after training SB3 keeps observations/actions env-major (swap_and_flatten), rewards step-major.
    SB3 adds gamma * V(final obs) to the reward of a time-limit step; leave those steps out."""
    last_step = np.zeros_like(buffer.rewards, dtype=bool)
    last_step[:-1] = buffer.episode_starts[1:] > 0
    return buffer.rewards.swapaxes(0, 1).reshape(-1), last_step.swapaxes(0, 1).reshape(-1)


def test_the_agent_only_ever_sees_r_hat(tmp_path):
    """ToyLineTrap's true reward is ~1e6 per step: any leak into the agent's rewards shows."""
    run = RecordingRun(RunConfig(**{**TINY, "env": "ToyLineTrap", "steps": 2048}), tmp_path / "run")
    summary = run.run()
    _, rewards, r_hat, last_step = last_rollout(run, [0, 1])
    assert 0 < last_step.sum() < 0.05 * len(rewards)
    np.testing.assert_allclose(rewards[~last_step], r_hat[~last_step], rtol=1e-5, atol=1e-5)
    assert np.abs(run.agent.rollout_buffer.rewards).max() < 100
    # The teacher still judged by the (trap) true reward, so labels exist and are decisive.
    assert summary["labels"] == 24


def test_the_rune_bonus_adds_the_members_disagreement_to_r_hat_and_halves_on_schedule(tmp_path):
    """With --rune-beta the agent's reward is r_hat + w * std over the members (ToyLineTrap's
    ~1e6 true reward still must not leak), w halving every --rune-half-life steps."""
    config = RunConfig(**{**TINY, "env": "ToyLineTrap", "rune_beta": 0.8, "rune_half_life": 2048})
    run = RecordingRun(config, tmp_path / "run")
    run.run()
    _, rewards, members, last_step = last_rollout(run, [0, 1], members=True)
    spread = members.std(axis=0)
    assert spread[~last_step].mean() > 0.01  # the members disagree, so the bonus is not nothing
    expected = members.mean(axis=0) + 0.4 * spread  # the last chunk started at 2048 steps: 0.8 / 2
    np.testing.assert_allclose(rewards[~last_step], expected[~last_step], rtol=1e-4, atol=1e-4)
    metrics = [json.loads(line) for line in (tmp_path / "run/metrics.jsonl").read_text().splitlines()]
    assert [m["train/rune_weight"] for m in metrics] == [0.8, 0.4]
    assert metrics[-1]["train/mean_rune_bonus"] == pytest.approx(0.4 * spread.mean(), rel=0.05)
    for bad, message in ((dict(rune_beta=-1), "--rune-beta must be >= 0"),
                         (dict(rune_beta=1, members=1, selector="uniform"), "needs --members 2 or more"),
                         (dict(rune_beta=1, true_reward=True), "needs --members 2 or more and no --true-reward"),
                         (dict(rune_half_life=0), "--rune-half-life must be positive")):
        with pytest.raises(ConfigError, match=message):
            RunConfig(**{**TINY, **bad})


def test_the_reward_model_reads_only_the_observation_entries_its_task_allows(tmp_path):
    """ToyLineExtraObs gives the policy a third entry its reward model must not read (reward_obs)."""
    run = RecordingRun(RunConfig(**{**TINY, "env": "ToyLineExtraObs", "steps": 2048}), tmp_path / "run")
    run.run()
    assert run.reward_model.in_dim == 2 + 1 and run.agent.observation_space.shape == (3,)
    obs, rewards, r_hat, last_step = last_rollout(run, [0, 1])
    np.testing.assert_allclose(obs[:, 2], 100 * obs[:, 0], rtol=1e-5)  # the policy does see it
    np.testing.assert_allclose(rewards[~last_step], r_hat[~last_step], rtol=1e-5, atol=1e-5)
    from prefrl.store import LabelStore

    store = LabelStore(tmp_path / "run/labels.sqlite")
    segment = store.segment(store.queries()[0].left_id)  # kept whole, as the policy saw it
    assert segment.obs.shape[1] == 3 and run.features([segment]).shape[-1] == 2 + 1


def test_the_loop_learns_a_reward_that_ranks_segments_like_the_truth(tmp_path):
    run = PreferenceRun(RunConfig(**{**TINY, "labels": 60, "fit_steps_initial": 300}), tmp_path / "run")
    summary = run.run()
    assert summary["labels"] == 60
    metrics = [json.loads(line) for line in (tmp_path / "run/metrics.jsonl").read_text().splitlines()]
    assert metrics[-1]["rm/agreement"] > 0.9


def test_true_reward_baseline_runs_through_the_same_path(tmp_path):
    summary = train(RunConfig(**{**TINY, "true_reward": True}), tmp_path / "true")
    assert summary["labels"] == 0 and summary["env_steps"] == 4096
    assert not (tmp_path / "true/labels.sqlite").exists()


def test_the_summary_says_what_code_packages_and_machine_made_the_run(tmp_path):
    import importlib.metadata
    import re

    summary = train(RunConfig(**{**TINY, "true_reward": True, "steps": 2048}), tmp_path / "run")
    made = json.loads((tmp_path / "run/summary.json").read_text())["provenance"]
    assert made == summary["provenance"]
    assert made["packages"]["torch"] == importlib.metadata.version("torch") == torch.__version__
    assert made["packages"]["stable-baselines3"] == importlib.metadata.version("stable-baselines3")
    assert made["cpu"] and made["cpu_count"] >= 1 and made["python"].count(".") == 2
    # in a git checkout (CI clones one) the commit, marked when tracked files were changed
    assert made["git_commit"] is None or re.fullmatch(r"[0-9a-f]{40}(\+dirty)?", made["git_commit"])
    # the floating-point code paths: MKL's branch as the environment set it, torch's kernels' level
    assert made["numerics"]["torch_cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert made["numerics"]["MKL_CBWR"] == os.environ.get("MKL_CBWR")
    # numpy's SIMD targets in use: a list (its internals may move between versions: then None)
    assert made["numerics"]["numpy_simd"] is None or isinstance(made["numerics"]["numpy_simd"], list)


def test_the_summary_names_the_commit_the_run_started_on_not_one_checked_out_while_it_ran(tmp_path, monkeypatch):
    from prefrl import run_dir

    monkeypatch.setattr(run_dir, "_git_commit", lambda: "a" * 40)
    run = PreferenceRun(RunConfig(**{**TINY, "true_reward": True, "steps": 2048}), tmp_path / "run")
    monkeypatch.setattr(run_dir, "_git_commit", lambda: "b" * 40)  # e.g. `git checkout` in its worktree
    assert run.run()["provenance"]["git_commit"] == "a" * 40


def test_the_numerics_record_names_the_pinned_code_paths(monkeypatch):
    """``MKL_CBWR=COMPATIBLE`` (MKL's branch that gives the same results on Intel and AMD CPUs) shows in the
    provenance, and an unset variable reads None, not the library's own pick."""
    from prefrl import run_dir

    monkeypatch.setenv("MKL_CBWR", "COMPATIBLE")
    monkeypatch.delenv("ATEN_CPU_CAPABILITY", raising=False)
    made = run_dir.numerics()
    assert made["MKL_CBWR"] == "COMPATIBLE" and made["ATEN_CPU_CAPABILITY"] is None
    assert made["torch_uses_mkl"] is torch.backends.mkl.is_available()


def test_a_run_reports_where_its_cpu_time_went(tmp_path):
    """summary.json splits the CPU time into the parts of the loop; the preference loop's own parts
    (``PREFERENCE_PARTS``) give its overhead, and a true-reward run has none of them."""
    light = train(RunConfig(**TINY), tmp_path / "light")
    parts = light["cpu_time_parts"]
    used = [k for k in PREFERENCE_PARTS if k != "planning"]  # without --plan-iterations a run does not plan
    assert set(used) <= set(parts) and all(parts[k] > 0 for k in used) and "planning" not in parts
    assert abs(sum(parts.values()) - light["cpu_time"]) < 0.05 and parts["rl_and_env"] > 0
    own = sum(parts[k] for k in used) / light["cpu_time"]
    assert light["preference_loop_cpu_share"] == pytest.approx(own, abs=5e-3) and 0 < own < 1
    # ten times the fitting shows up in the fit part
    heavy = train(RunConfig(**{**TINY, "fit_steps": 400, "fit_steps_initial": 1000}), tmp_path / "heavy")
    assert heavy["cpu_time_parts"]["fit"] > 3 * parts["fit"]
    true = train(RunConfig(**{**TINY, "true_reward": True}), tmp_path / "true")
    assert not set(PREFERENCE_PARTS) & set(true["cpu_time_parts"]) and "preference_loop_cpu_share" not in true
    assert {"evaluation", "checkpoint", "rl_and_env"} <= set(true["cpu_time_parts"])


def test_a_run_dir_with_another_config_is_refused_and_left_alone(tmp_path):
    train(RunConfig(**{**TINY, "steps": 2048}), tmp_path / "run")
    before = {p: p.read_bytes() for p in (tmp_path / "run").iterdir() if p.is_file()}
    with pytest.raises(ConfigError, match="holds a different config .*seed"):
        PreferenceRun(RunConfig(**{**TINY, "steps": 2048, "seed": 1}), tmp_path / "run")
    assert {p: p.read_bytes() for p in (tmp_path / "run").iterdir() if p.is_file()} == before


def test_a_run_directory_in_use_by_another_process_is_refused_until_that_process_ends(tmp_path):
    """Two processes training in one run directory would interleave its metrics and checkpoints: the
    second is refused in one line naming the first, and once the first is killed the run goes on."""
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; import tests.toy_env; "
         "from prefrl import run_dir; from prefrl.config import RunConfig; from tests.test_trainer import TINY; "
         "run_dir.prepare(Path(sys.argv[1]), RunConfig(**TINY)); print('ready', flush=True); time.sleep(300)",
         str(tmp_path / "run")], cwd=root, stdout=subprocess.PIPE, text=True,
        env=os.environ | {"PYTHONPATH": str(root)})
    try:
        assert holder.stdout.readline().strip() == "ready"
        before = {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir()}
        with pytest.raises(ConfigError, match=rf"in use by another process \(pid {holder.pid}\); stop that process"):
            PreferenceRun(RunConfig(**TINY), tmp_path / "run")
        assert {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir()} == before
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    summary = train(RunConfig(**TINY), tmp_path / "run")
    assert summary["labels"] == 24 and not (tmp_path / "run/.lock").exists()


def test_a_run_made_before_a_setting_existed_resumes_with_that_setting_at_its_default(tmp_path):
    """config.json of a run killed before ``explore_steps`` was added lacks it; resuming works,
    and changing the new setting is still refused."""
    config = RunConfig(**TINY)
    with pytest.raises(Killed):
        DiesAfterFirstChunk(config, tmp_path / "run").run()
    cfg_file = tmp_path / "run/config.json"
    old = {k: v for k, v in json.loads(cfg_file.read_text()).items() if k != "explore_steps"}
    cfg_file.write_text(json.dumps(old))
    with pytest.raises(ConfigError, match="differs in: explore_steps"):
        PreferenceRun(dataclasses.replace(config, explore_steps=1024), tmp_path / "run")
    assert json.loads(cfg_file.read_text()) == old
    summary = PreferenceRun(config, tmp_path / "run").run()
    assert summary["env_steps"] == 4096 and summary["labels"] == 24


class Killed(Exception):
    pass


class DiesAfterFirstChunk(PreferenceRun):
    def save_checkpoint(self):
        super().save_checkpoint()
        raise Killed


def test_a_killed_run_resumes_from_its_checkpoint_with_every_label(tmp_path):
    config = RunConfig(**TINY)
    with pytest.raises(Killed):
        DiesAfterFirstChunk(config, tmp_path / "run").run()
    from prefrl.store import LabelStore

    before = [(lab.id, lab.query_id, lab.choice) for lab in LabelStore(tmp_path / "run/labels.sqlite").labels()]
    assert 6 <= len(before) < 24
    spent = json.loads((tmp_path / "run/checkpoint/state.json").read_text())
    resumed = PreferenceRun(config, tmp_path / "run")
    assert resumed.agent.num_timesteps == 2048 and len(resumed.data) == len(before)
    summary = resumed.run()
    # wall and CPU time go on from what the killed process had spent
    assert summary["wall_time"] > spent["wall_time"] > 0 and summary["cpu_time"] > spent["cpu_time"] > 0
    assert all(summary["cpu_time_parts"][k] >= round(v, 3) for k, v in spent["cpu_parts"].items())
    assert summary["cpu_time_parts"]["reward_per_step"] > spent["cpu_parts"]["reward_per_step"] > 0
    after = [(lab.id, lab.query_id, lab.choice) for lab in LabelStore(tmp_path / "run/labels.sqlite").labels()]
    assert after[: len(before)] == before and summary["labels"] == 24 and summary["env_steps"] == 4096
    steps = [json.loads(line)["env_steps"] for line in (tmp_path / "run/metrics.jsonl").read_text().splitlines()]
    assert steps == [2048, 4096]
    assert not (tmp_path / "run/checkpoint").exists()
    with pytest.raises(ConfigError, match="already finished"):
        PreferenceRun(config, tmp_path / "run")


def test_a_resumed_run_keeps_its_evaluation_grid(tmp_path):
    config = RunConfig(**{**TINY, "steps": 6144, "eval_every": 4096})
    with pytest.raises(Killed):
        DiesAfterFirstChunk(config, tmp_path / "run").run()
    PreferenceRun(config, tmp_path / "run").run()
    evals = [m["env_steps"] for m in map(json.loads, (tmp_path / "run/metrics.jsonl").read_text().splitlines())
             if "eval/true_return" in m]
    assert evals == [2048, 6144]  # as an uninterrupted run: after the first chunk, then every 4096


def test_offline_ablation_asks_every_label_before_rl_and_never_refits(tmp_path):
    from prefrl.store import LabelStore

    run = RecordingRun(RunConfig(**{**TINY, "offline": True}), tmp_path / "run")
    summary = run.run()
    assert summary["labels"] == 24
    assert {q.env_steps for q in LabelStore(tmp_path / "run/labels.sqlite").queries()} == {0}
    assert len(run.snapshots) == 1  # one fit, before RL


@pytest.mark.parametrize("horizon", [2e6, 100.0])
def test_the_label_horizon_sets_how_early_the_labels_are_asked(tmp_path, horizon):
    from prefrl.queries import labels_due
    from prefrl.store import LabelStore

    summary = train(RunConfig(**{**TINY, "label_horizon": horizon}), tmp_path / "run")
    asked_at = [q.env_steps for q in LabelStore(tmp_path / "run/labels.sqlite").queries()]
    first_chunk = sum(s <= TINY["chunk_steps"] for s in asked_at)
    assert first_chunk == labels_due(TINY["chunk_steps"], TINY["steps"], 24, 0.25, horizon)
    assert first_chunk == {2e6: 15, 100.0: 20}[horizon]  # 6 pretraining labels + 9 or 14 of 18
    assert summary["labels"] == len(asked_at) == 24


@pytest.mark.parametrize("horizon, message", [(0.0, "must be positive"), (-5.0, "must be positive"),
                                              (float("inf"), "must be a finite number"),
                                              (float("nan"), "must be a finite number")])
def test_a_label_horizon_that_is_not_a_positive_number_is_refused(horizon, message):
    with pytest.raises(ConfigError, match=f"--label-horizon {message}"):
        RunConfig(**{**TINY, "label_horizon": horizon})


def test_optimistic_queries_run_end_to_end_and_are_recorded_as_such(tmp_path):
    from prefrl.store import LabelStore

    summary = train(RunConfig(**{**TINY, "selector": "optimistic", "members": 1}), tmp_path / "run")
    assert summary["labels"] == 24
    assert {q.selector for q in LabelStore(tmp_path / "run/labels.sqlite").queries()} == {"optimistic"}


def test_single_model_cannot_use_ensemble_disagreement():
    with pytest.raises(ConfigError, match="needs an ensemble"):
        RunConfig(**{**TINY, "members": 1})
    RunConfig(**{**TINY, "members": 1, "selector": "entropy"})


def test_gsde_exploration_is_used_in_training_and_in_pretraining_collection(tmp_path):
    from prefrl import agents

    run = PreferenceRun(RunConfig(**{**TINY, "gsde_every": 4}), tmp_path / "run")
    assert run.agent.use_sde and run.agent.sde_sample_freq == 4
    assert tuple(run.agent.policy.log_std.shape) == (64, 1)  # gSDE's noise weights per latent feature
    before = run.agent.policy.action_dist.exploration_mat.clone()
    agents.collect(run.agent, run.recorder, 64)
    assert not torch.equal(before, run.agent.policy.action_dist.exploration_mat)  # redrawn while collecting
    assert run.run()["labels"] == 24
    assert not PreferenceRun(RunConfig(**TINY), tmp_path / "gauss").agent.use_sde
    with pytest.raises(ConfigError, match="gsde-every"):
        RunConfig(**{**TINY, "gsde_every": -1})


def test_metrics_log_the_policys_action_noise(tmp_path):
    from prefrl import agents

    run = PreferenceRun(RunConfig(**TINY), tmp_path / "gauss")
    assert agents.exploration_metrics(run.agent) == {}  # no rollout yet
    run.run()
    rows = [json.loads(line) for line in (tmp_path / "gauss" / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and all(row["train/action_std"] > 0 for row in rows)  # one row per chunk
    # Gaussian noise does not depend on the state: its std is exp(log_std)
    assert agents.exploration_metrics(run.agent)["train/action_std"] == pytest.approx(
        float(run.agent.policy.log_std.detach().exp().mean()), rel=1e-5)
    sde = PreferenceRun(RunConfig(**{**TINY, "gsde_every": 4}), tmp_path / "sde")
    sde.run()
    noise = agents.exploration_metrics(sde.agent)["train/action_std"]
    assert 0 < noise < 10 and noise != pytest.approx(float(sde.agent.policy.log_std.detach().exp().mean()))


def test_obs_norm_standardises_the_policys_inputs_by_what_it_has_learned_from_and_keeps_that_in_the_policy(
        tmp_path):
    import gymnasium as gym
    from stable_baselines3 import PPO

    from prefrl.agents import StandardisedObs

    layer = StandardisedObs(gym.spaces.Box(-np.inf, np.inf, (3,)))
    rng = np.random.default_rng(0)
    batches = [rng.normal(2.0, 3.0, (50, 3)), rng.normal(-1.0, 0.5, (70, 3))]
    for x in batches:
        layer.update(x.sum(0), (x**2).sum(0), len(x))
    seen = np.concatenate(batches)
    np.testing.assert_allclose(layer.mean.numpy(), seen.mean(0))
    np.testing.assert_allclose(layer.var.numpy(), seen.var(0))
    out = layer(torch.as_tensor(seen, dtype=torch.float32)).numpy()
    np.testing.assert_allclose(out.mean(0), 0.0, atol=1e-5)
    np.testing.assert_allclose(out.std(0), 1.0, atol=1e-4)

    def stats(agent):
        layers = [m for m in agent.policy.modules() if isinstance(m, StandardisedObs)]
        return layers[0] if layers else None

    config = RunConfig(**{**TINY, "obs_norm": True})
    with pytest.raises(Killed):
        DiesAfterFirstChunk(config, tmp_path / "run").run()
    resumed = PreferenceRun(config, tmp_path / "run")
    assert float(stats(resumed.agent).count) == 2048  # every observation of the first chunk's rollouts
    resumed.run()
    loaded = PPO.load(tmp_path / "run/policy.zip", device="cpu")
    assert float(stats(loaded).count) == 4096 and float(stats(loaded).var.min()) != 1.0
    obs = np.stack([resumed.recorder.observation_space.sample() for _ in range(8)])
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0],
                                  resumed.agent.predict(obs, deterministic=True)[0])
    assert stats(PreferenceRun(RunConfig(**TINY), tmp_path / "raw").agent) is None


@pytest.mark.parametrize("normalise", ["recent", "labelled", "initial"])
def test_r_hat_is_normalised_on_recent_behaviour_or_on_the_labelled_segments(tmp_path, normalise):
    from prefrl.store import LabelStore

    run = PreferenceRun(RunConfig(**{**TINY, "normalise": normalise}), tmp_path / "run")
    run.run()
    store = LabelStore(tmp_path / "run/labels.sqlite")
    pairs = list(store.training_labels())
    pretrain = run.labels_due(0)
    assert 0 < pretrain < len(pairs) == TINY["labels"]

    def steps(pairs):
        return np.concatenate([store.segment(i).features(None) for q, _ in pairs for i in (q.left_id, q.right_id)])

    on = {"labelled": steps(pairs), "initial": steps(pairs[:pretrain]),
          "recent": np.concatenate([e.features(None) for e in run.recorder.episodes])}
    with torch.no_grad():
        members = {k: run.reward_model.member_rewards(torch.as_tensor(v, dtype=torch.float32)) for k, v in on.items()}
    assert torch.allclose(members[normalise].mean(dim=1), torch.zeros(3), atol=1e-4)
    assert torch.allclose(members[normalise].std(dim=1), torch.ones(3), atol=1e-4)
    for other in set(on) - {normalise}:
        assert not torch.allclose(members[other].mean(dim=1), torch.zeros(3), atol=1e-2)
    with pytest.raises(ConfigError, match="unknown normalise 'latest'; known: recent, labelled, initial"):
        RunConfig(**{**TINY, "normalise": "latest"})


class ScaleRecordingRun(PreferenceRun):
    """Keeps the true-reward scale as it was before each rescaling."""

    def rescale_true_reward(self):
        self.scales = [*getattr(self, "scales", []), (self.reward_scaler.mean, self.reward_scaler.std)]
        super().rescale_true_reward()


def test_the_scaled_baseline_learns_the_true_reward_standardised_on_recent_behaviour(tmp_path):
    """ToyLineTrap's true reward is 1e6 + position: scaled, the agent sees it near mean 0, std 1."""
    config = RunConfig(**{**TINY, "env": "ToyLineTrap", "true_reward": True, "scale_true_reward": True})
    run = ScaleRecordingRun(config, tmp_path / "run")
    summary = run.run()
    recent = np.concatenate([e.true_reward for e in run.recorder.episodes])
    assert run.reward_scaler.mean == pytest.approx(recent.mean(), rel=1e-12)
    assert run.reward_scaler.std == pytest.approx(recent.std(), rel=1e-6)
    assert abs(run.reward_scaler.mean - 1e6) < 10 and run.scales[0] == (0.0, 1.0)
    # The last rollout was scaled with the statistics from before the last rescaling.
    mean, std = run.scales[-1]
    buffer = run.agent.rollout_buffer
    obs = buffer.observations.reshape(-1, 2).astype(np.float64)
    actions = np.clip(buffer.actions.reshape(-1), -1, 1)
    true = 1e6 + obs[:, 0] + 0.8 * obs[:, 1] + 0.2 * actions  # ToyLine's step, env-major like obs
    rewards, last_step = rollout_rewards(buffer)
    # (DummyVecEnv keeps rewards in float32, which resolves 1e6 + x only to 1/16.)
    np.testing.assert_allclose(rewards[~last_step], ((true - mean) / std)[~last_step], atol=0.1 / std)
    assert 0.2 < np.std(rewards) < 5 and abs(np.mean(rewards)) < 3
    assert summary["final_true_return"] > 0.99e6 * 40  # evaluation reports the unscaled return
    # A killed scaled run resumes with the scale it had.
    config = dataclasses.replace(config, seed=1)
    with pytest.raises(Killed):
        DiesAfterFirstChunk(config, tmp_path / "killed").run()
    resumed = PreferenceRun(config, tmp_path / "killed")
    assert abs(resumed.reward_scaler.mean - 1e6) < 10 and resumed.reward_scaler.std != 1.0
    with pytest.raises(ConfigError, match="--scale-true-reward applies to the true-reward baseline"):
        RunConfig(**{**TINY, "scale_true_reward": True})


class ExploreRecordingRun(PreferenceRun):
    """Keeps the rollout that ended the exploration."""

    def pretrain(self):
        buffer = self.agent.rollout_buffer  # SB3 keeps rewards and episode starts step-major
        self.explore_rollout = buffer.rewards.copy(), buffer.episode_starts.copy()
        return super().pretrain()


def test_explore_steps_pay_the_state_entropy_reward_then_ask_the_first_labels_on_the_explorers_clips(
        tmp_path, monkeypatch):
    """ToyLineTrap's true reward is ~1e6 per step: the explorer's rewards must not carry it."""
    from prefrl import explore, trainer
    from prefrl.store import LabelStore

    paid_log = []

    class Recording(explore.StateEntropyReward):  # the real reward, its payments kept
        def __call__(self, states):
            paid_log.append(super().__call__(states))
            return paid_log[-1]

    monkeypatch.setattr(trainer, "StateEntropyReward", Recording)

    config = RunConfig(**{**TINY, "env": "ToyLineTrap", "explore_steps": 4096, "steps": 6144})
    run = ExploreRecordingRun(config, tmp_path / "run")
    summary = run.run()
    # The rollout that ended the exploration is the last 256 steps of intrinsic rewards paid.
    paid = np.stack(paid_log[-run.agent.n_steps:])  # (n_steps, n_envs), step-major like SB3's rewards
    rewards, episode_starts = run.explore_rollout
    last_step = np.zeros_like(paid, dtype=bool)  # SB3 adds gamma * V(final obs) at time-limit steps
    last_step[:-1] = episode_starts[1:] > 0
    assert len(paid_log) == 4096 // 4 and np.abs(paid).max() < 100 and np.std(paid) > 0.1
    assert 0 < last_step.sum() < 0.05 * paid.size
    np.testing.assert_allclose(rewards[~last_step], paid[~last_step], rtol=1e-5)
    queries = list(LabelStore(tmp_path / "run/labels.sqlite").queries())
    assert min(q.env_steps for q in queries) == 4096 and sum(q.env_steps == 4096 for q in queries) == 6
    assert summary["labels"] == 24 and summary["env_steps"] == 6144 and summary["explore_env_steps"] == 4096
    metrics = [json.loads(line) for line in (tmp_path / "run/metrics.jsonl").read_text().splitlines()]
    assert [m.get("exploring", False) for m in metrics] == [True, True, False]  # the 2nd chunk ends it
    assert [m["labels"] for m in metrics] == [0, 6, 24]
    assert "rm/agreement" not in metrics[0] and "train/mean_r_hat" not in metrics[0]
    assert "rm/agreement" in metrics[1] and "train/mean_r_hat" in metrics[2]
    # After exploration the agent learns r_hat (the last rollout), not the intrinsic reward.
    assert run.reward_wrapper.explorer is None and len(paid_log) == 4096 // 4


def test_a_run_killed_while_exploring_resumes_exploring(tmp_path):
    config = RunConfig(**{**TINY, "explore_steps": 4096, "steps": 6144})
    with pytest.raises(Killed):
        DiesAfterFirstChunk(config, tmp_path / "run").run()
    resumed = PreferenceRun(config, tmp_path / "run")
    assert resumed.exploring and resumed.store.count_labels() == 0
    summary = resumed.run()
    assert summary["labels"] == 24 and summary["env_steps"] == 6144


@pytest.mark.parametrize("change, message", [
    ({"true_reward": True}, "--explore-steps explores before the first labels"),
    ({"explore_steps": 4096}, "leaves no steps to learn from labels"),
    ({"explore_steps": -1}, "must be >= 0"),
])
def test_bad_explore_steps_are_refused(change, message):
    with pytest.raises(ConfigError, match=message):
        RunConfig(**{**TINY, "explore_steps": 2048, **change})


def test_a_given_reward_model_is_learned_frozen(tmp_path):
    """``--reward-model``: PPO on a finished run's r_hat, no labels asked, its weights never refitted
    (only its normalisation follows the behaviour), and it still learns the toy task."""
    train(RunConfig(**TINY), tmp_path / "teacher")
    given = str(tmp_path / "teacher/reward_model.npz")
    summary = train(RunConfig(**{**TINY, "reward_model": given}), tmp_path / "frozen")
    assert summary["labels"] == 0
    from prefrl.store import LabelStore

    assert LabelStore(tmp_path / "frozen/labels.sqlite").queries() == []
    before, after = (RewardEnsemble.from_npz((tmp_path / p).read_bytes()).state_dict()
                     for p in ("teacher/reward_model.npz", "frozen/reward_model.npz"))
    for k in before:
        if k not in ("mean", "std"):
            assert torch.equal(before[k], after[k]), k
    assert not torch.equal(before["mean"], after["mean"])  # renormalised on its own behaviour
    metrics = [json.loads(line) for line in (tmp_path / "frozen/metrics.jsonl").read_text().splitlines()]
    assert all(m["labels"] == 0 and "rm/agreement" in m and "rm/train_loss" not in m for m in metrics)
    assert summary["final_true_return"] > 0.8 * json.loads((tmp_path / "teacher/summary.json").read_text())[
        "final_true_return"]


def test_a_given_reward_model_that_does_not_fit_is_refused_before_anything_is_written(tmp_path):
    (tmp_path / "other.npz").write_bytes(RewardEnsemble(7, 3).to_npz())  # ToyLine's reads 2 + 1
    for path, message in ((tmp_path / "missing.npz", "no such file"), (tmp_path / "other.npz", "reads 7 inputs")):
        with pytest.raises(ConfigError, match=message):
            PreferenceRun(RunConfig(**{**TINY, "reward_model": str(path)}), tmp_path / "run")
        assert not (tmp_path / "run").exists()
    with pytest.raises(ConfigError, match="drop --true-reward"):
        RunConfig(**{**TINY, "reward_model": str(tmp_path / "other.npz"), "true_reward": True})


@pytest.mark.parametrize("input_norm", ["none", "labelled"])
def test_reward_model_inputs_are_standardised_on_the_labelled_segments_when_asked(tmp_path, input_norm):
    from prefrl.store import LabelStore

    run = PreferenceRun(RunConfig(**{**TINY, "labels": 60, "fit_steps_initial": 300, "input_norm": input_norm}),
                        tmp_path / "run")
    run.run()
    metrics = [json.loads(line) for line in (tmp_path / "run/metrics.jsonl").read_text().splitlines()]
    assert metrics[-1]["rm/agreement"] > 0.9
    store = LabelStore(tmp_path / "run/labels.sqlite")
    rows = np.concatenate([store.segment(i).features(None) for q, _ in store.training_labels()
                           for i in (q.left_id, q.right_id)])
    model = RewardEnsemble.from_npz((tmp_path / "run/reward_model.npz").read_bytes())
    if input_norm == "labelled":
        np.testing.assert_allclose(model.in_mean.numpy(), rows.mean(axis=0), atol=1e-4)
        np.testing.assert_allclose(model.in_std.numpy(), rows.std(axis=0, ddof=1), rtol=1e-3)
    else:
        assert torch.equal(model.in_mean, torch.zeros(3)) and torch.equal(model.in_std, torch.ones(3))
    with pytest.raises(ConfigError, match="unknown input_norm 'raw'; known: none, labelled"):
        RunConfig(**{**TINY, "input_norm": "raw"})
    with pytest.raises(ConfigError, match="drop --input-norm labelled"):
        RunConfig(**{**TINY, "input_norm": "labelled", "reward_model": str(tmp_path / "run/reward_model.npz")})


def test_surf_cropping_and_pseudo_labels_fit_r_hat_and_report_how_the_pseudo_labels_fare(tmp_path):
    config = RunConfig(**{**TINY, "labels": 60, "fit_steps_initial": 300, "crop": 0.5, "pseudo_threshold": 0.9})
    run = PreferenceRun(config, tmp_path / "run")
    assert run.reward_trainer.config.crop == 0.5
    run.run()
    metrics = [json.loads(line) for line in (tmp_path / "run/metrics.jsonl").read_text().splitlines()]
    assert all(0 < m["rm/pseudo_share"] <= 1 for m in metrics)  # every refit offered pseudo-labels
    assert all(m["rm/pseudo_accuracy"] > 0.8 for m in metrics)  # against the true return's order
    assert metrics[-1]["rm/agreement"] > 0.9
    for bad, message in ((dict(crop=0), r"--crop must be in \(0, 1\]"), (dict(crop=1.5), "--crop must be"),
                         (dict(pseudo_threshold=0.4), "--pseudo-threshold must be 0"),
                         (dict(pseudo_threshold=1), "--pseudo-threshold must be 0"),
                         (dict(crop=0.5, true_reward=True), "nothing is fitted")):
        with pytest.raises(ConfigError, match=message):
            RunConfig(**{**TINY, **bad})


def test_log_std_init_sets_the_initial_action_noise_of_run_and_baseline(tmp_path):
    for extra in ({}, {"true_reward": True}):
        config = RunConfig(**{**TINY, **extra, "log_std_init": -1.0})
        agent = PreferenceRun(config, tmp_path / f"run{len(extra)}").agent
        assert torch.allclose(agent.policy.log_std.detach(), torch.tensor(-1.0))
    assert torch.allclose(PreferenceRun(RunConfig(**TINY), tmp_path / "default").agent.policy.log_std.detach(),
                          torch.tensor(0.0))  # SB3's default, std 1
    with pytest.raises(ConfigError, match="--gsde-every replaces it"):
        RunConfig(**{**TINY, "log_std_init": -1.0, "gsde_every": 4})


def test_layer_widths_set_the_policy_and_value_networks_of_run_and_baseline(tmp_path):
    def widths(net):
        return [m.out_features for m in net if isinstance(m, torch.nn.Linear)]

    for extra in ({}, {"true_reward": True}):
        config = RunConfig(**{**TINY, **extra, "value_layers": "256x256"})
        mlp = PreferenceRun(config, tmp_path / f"run{len(extra)}").agent.policy.mlp_extractor
        assert widths(mlp.value_net) == [256, 256] and widths(mlp.policy_net) == [64, 64]  # the other kept at SB3's
    mlp = PreferenceRun(RunConfig(**{**TINY, "policy_layers": "32x16x8"}), tmp_path / "pi").agent.policy.mlp_extractor
    assert widths(mlp.policy_net) == [32, 16, 8] and widths(mlp.value_net) == [64, 64]
    assert parse_overrides("value_layers=256x256,gamma=0.99", RunConfig) == {"value_layers": "256x256", "gamma": 0.99}
    for flag, bad in (("value_layers", "256x"), ("policy_layers", "0x64"), ("value_layers", "256,256"),
                      ("policy_layers", "wide")):
        with pytest.raises(ConfigError, match=f"--{flag.replace('_', '-')} must be hidden layer widths joined by x"):
            RunConfig(**{**TINY, flag: bad})


@pytest.mark.parametrize("name, value", [("gae_lambda", 0.99), ("gamma", 0.9999)])
def test_gamma_and_gae_lambda_replace_the_tasks_own(tmp_path, name, value):
    from experiments import backflip
    from prefrl import agents

    assert getattr(PreferenceRun(RunConfig(**TINY), tmp_path / "default").agent, name) == agents.PPO_KWARGS[name]
    assert getattr(PreferenceRun(RunConfig(**{**TINY, name: value}), tmp_path / "set").agent, name) == value
    a2c = PreferenceRun(RunConfig(**{**TINY, "algo": "a2c", name: value}), tmp_path / "a2c").agent
    assert getattr(a2c, name) == value and agents.A2C_KWARGS[name] != value
    flip = {"env": "HopperBackflip", "oracle_score": "backflip", "labels": 16, "n_envs": 2}
    assert getattr(backflip.backflip_run(RunConfig(**flip), tmp_path / "flip").agent, name) == \
        backflip.PPO_KWARGS[name]  # the task's own PPO settings
    assert getattr(backflip.backflip_run(RunConfig(**flip, **{name: value}), tmp_path / "flip2").agent, name) == value
    flag = "--" + name.replace("_", "-")
    for bad in (-0.1, 1.5):
        with pytest.raises(ConfigError, match=rf"{flag} must be in \[0, 1\]"):
            RunConfig(**{**TINY, name: bad})


def test_reward_std_sets_the_scale_of_r_hat_and_of_the_scaled_true_reward(tmp_path):
    from prefrl.reward_wrapper import ScaledTrueRewardWrapper

    run = PreferenceRun(RunConfig(**{**TINY, "reward_std": 0.5}), tmp_path / "run")
    run.run()
    recent = np.concatenate([e.features(None) for e in run.recorder.episodes])
    with torch.no_grad():
        members = run.reward_model.member_rewards(torch.as_tensor(recent, dtype=torch.float32))
    assert torch.allclose(members.mean(dim=1), torch.zeros(3), atol=1e-4)
    assert torch.allclose(members.std(dim=1), torch.full((3,), 0.5), atol=1e-4)
    scaler = ScaledTrueRewardWrapper(run.recorder)
    rewards = np.array([1.0, 3.0, 5.0, 7.0])
    scaler.renormalise(rewards, 0.5)
    assert np.std((rewards - scaler.mean) / scaler.std) == pytest.approx(0.5, rel=1e-6)
    with pytest.raises(ConfigError, match="--reward-std must be a positive number, got 0.0"):
        RunConfig(**{**TINY, "reward_std": 0.0})


def test_train_episode_steps_shortens_the_agents_training_episodes_not_its_evaluations(tmp_path):
    from prefrl import agents

    for extra in ({}, {"true_reward": True}):
        run = PreferenceRun(RunConfig(**{**TINY, **extra, "train_episode_steps": 32}), tmp_path / f"short{len(extra)}")
        summary = run.run()
        assert run.pretrain_steps % (TINY["n_envs"] * 32) == 0  # whole (short) episodes in every env
        assert {len(seg.obs) for seg in run.recorder.episodes} == {32}  # the task's own episode is 40 steps
        assert {ep["l"] for ep in run.agent.ep_info_buffer} == {32}
        logged = [json.loads(line) for line in (tmp_path / f"short{len(extra)}" / "metrics.jsonl").open()]
        assert [m["train/episode_length"] for m in logged] == [32.0, 32.0]
        # the final evaluation ran whole 40-step episodes: the saved policy on the task's own env gives its number
        policy = agents.load_agent(run.config, tmp_path / f"short{len(extra)}" / "policy.zip",
                                   agents.make_vec_env("ToyLine", 1, 0), str(tmp_path))
        final = agents.evaluate(policy, "ToyLine", TINY["final_eval_episodes"], TINY.get("seed", 0) + 20_000)
        assert summary["final_true_return"] == pytest.approx(final.mean)
        short = agents.make_vec_env("ToyLine", 1, 0, episode_steps=32)
        full = agents.make_vec_env("ToyLine", 1, 0)
        assert (short.get_attr("horizon"), full.env_is_wrapped(agents.TrainingHorizon)) == ([32], [False])


def test_train_episode_growth_lengthens_the_training_episodes_to_the_tasks_own(tmp_path):
    from prefrl import agents

    config = RunConfig(**{**TINY, "steps": 8192, "train_episode_steps": 30, "train_episode_growth": 0.5})
    # 30 steps at the start, the task's 40 from half of the 8192 steps on, linear between
    assert [agents.training_horizon(config, t) for t in (0, 2048, 4096, 8192)] == [30, 35, 40, 40]
    run = PreferenceRun(config, tmp_path / "run")
    run.run()
    logged = [m["train/episode_steps"] for m in map(json.loads, (tmp_path / "run/metrics.jsonl").open())]
    assert logged == [30, 35, 40, 40]  # each chunk's length, the chunks starting at 0, 2048, 4096, 6144 steps
    lengths = [len(seg.obs) for seg in run.recorder.episodes]
    assert set(lengths) <= {30, 35, 40} and lengths[0] == 30 and lengths[-8:] == [40] * 8
    assert run.recorder.episodes.maxlen == 32_000 // 40
    with pytest.raises(ConfigError, match="without --train-episode-steps"):
        RunConfig(**{**TINY, "train_episode_growth": 0.5})
    with pytest.raises(ConfigError, match=r"--train-episode-growth must be in \[0, 1\]"):
        RunConfig(**{**TINY, "train_episode_steps": 30, "train_episode_growth": 1.5})


@pytest.mark.parametrize("steps, message", [(41, "longer than ToyLine's episode of 40 steps"),
                                            (20, r"shorter than a segment \(30 steps\)")])
def test_a_train_episode_length_that_cannot_hold_the_task_is_refused_before_anything_is_written(
        tmp_path, steps, message):
    with pytest.raises(ConfigError, match=message):
        PreferenceRun(RunConfig(**{**TINY, "train_episode_steps": steps}), tmp_path / "run")
    assert not (tmp_path / "run").exists()
    with pytest.raises(ConfigError, match="must be >= 0"):
        RunConfig(**{**TINY, "train_episode_steps": -1})


def test_train_down_seconds_ends_training_episodes_of_a_fallen_body_as_truncations(tmp_path):
    from prefrl import agents

    config = RunConfig(env="Walker2d", train_down_seconds=0.4)
    down = agents.training_down_steps(config)
    assert down == 50  # 0.4 s of Walker2d's 0.008 s control step
    venv = agents.make_vec_env("Walker2d", 1, 0, 1000, down)
    rng, run_down, ends = np.random.default_rng(0), 0, []
    venv.reset()
    for _ in range(600):  # random flailing: the walker falls within a few dozen steps
        _, _, dones, infos = venv.step(rng.uniform(-1, 1, (1, 6)))
        run_down = 0 if infos[0]["healthy"] else run_down + 1
        if dones[0]:
            ends.append((run_down, infos[0]["TimeLimit.truncated"], infos[0]["episode"]["l"]))
            run_down = 0
    assert len(ends) >= 3
    assert all(d == down and truncated and length < 1000 for d, truncated, length in ends)
    # evaluations and a run without the setting keep the task's whole episodes
    assert agents.training_down_steps(RunConfig(env="Walker2d")) is None
    full = agents.make_vec_env("Walker2d", 1, 0)
    full.reset()
    assert not any(full.step(np.zeros((1, 6)))[2][0] for _ in range(600))
    with pytest.raises(ConfigError, match=r"shorter than a segment \(45 steps\): give at least 0.36"):
        PreferenceRun(RunConfig(env="Walker2d", train_down_seconds=0.2), tmp_path / "run")
    assert not (tmp_path / "run").exists()
    with pytest.raises(ConfigError, match="--train-down-seconds must be a number of seconds >= 0"):
        RunConfig(env="Walker2d", train_down_seconds=-1.0)


def test_return_norm_divides_the_agents_reward_by_its_returns_running_std():
    import gymnasium as gym
    from stable_baselines3.common.vec_env import DummyVecEnv

    from prefrl.reward_wrapper import ReturnScaledReward

    def venv():
        v = DummyVecEnv([lambda: gym.make("prefrl/ToyLineTrap-v0")] * 2)  # rewards near 1e6: far from std 1
        v.seed(3)
        return v

    raw, scaled = venv(), ReturnScaledReward(venv(), gamma=0.9)
    raw.reset(), scaled.reset()
    returns, seen, ended = np.zeros(2), [], 0
    actions = np.random.default_rng(0).uniform(-1, 1, (100, 2, 1))  # 2.5 episodes of 40 steps per env
    for a in actions:
        _, r, done, _ = raw.step(a)
        _, r_agent, done_agent, _ = scaled.step(a)
        returns = returns * 0.9 + r
        seen.extend(returns)
        np.testing.assert_allclose(r_agent, np.clip(r / np.std(seen), -10, 10), rtol=1e-3)
        assert (done == done_agent).all()
        returns[done] = 0.0  # each episode's return starts afresh
        ended += done.sum()
    assert ended == 4 and scaled.stats.count == pytest.approx(200, abs=1e-3)
    assert np.abs(r_agent).max() < 1.5  # rewards of ~1e6 reach the agent near 1 (std of a 0.9-discounted sum: ~10x)
    copy = ReturnScaledReward(venv(), gamma=0.9)
    copy.load_state(json.loads(json.dumps(scaled.state())))  # as a checkpoint stores it
    assert copy.state() == scaled.state()


@pytest.mark.parametrize("extra", [{}, {"true_reward": True}])
def test_return_norm_reaches_the_agent_and_a_resumed_run_scales_as_the_killed_one(tmp_path, extra):
    from prefrl.reward_wrapper import ReturnScaledReward

    config = RunConfig(**{**TINY, **extra, "return_norm": True, "gamma": 0.98})
    with pytest.raises(Killed):
        DiesAfterFirstChunk(config, tmp_path / "run").run()
    saved = json.loads((tmp_path / "run/checkpoint/state.json").read_text())["return_scale"]
    assert saved["count"] == pytest.approx(2048, abs=1e-3) and saved["var"] > 0  # every step of the first chunk
    resumed = PreferenceRun(config, tmp_path / "run")
    assert isinstance(resumed.agent.get_env(), ReturnScaledReward) and resumed.return_scaler.gamma == 0.98
    assert resumed.return_scaler.state() == saved
    assert resumed.run()["env_steps"] == 4096 and resumed.return_scaler.stats.count == pytest.approx(4096, abs=1e-3)
    assert not hasattr(PreferenceRun(RunConfig(**{**TINY, **extra}), tmp_path / "off"), "return_scaler")


class RecordingBoth(PreferenceRun):
    """Keeps r_hat and the agent's averaged reward model as they were before and after each fit."""

    def fit(self, steps):
        snap = lambda model: RewardEnsemble.from_npz(model.to_npz())  # noqa: E731
        before = snap(self.agent_reward_model)
        metrics = super().fit(steps)
        self.fits = [*getattr(self, "fits", []), (before, snap(self.reward_model), snap(self.agent_reward_model))]
        return metrics


def test_reward_tau_gives_the_agent_a_polyak_average_of_r_hat_and_a_killed_run_resumes_with_it(tmp_path):
    run = RecordingBoth(RunConfig(**TINY, reward_tau=0.25), tmp_path / "run")
    assert run.reward_wrapper.reward_model is run.agent_reward_model is not run.reward_model
    run.run()
    (first_before, first_fitted, first_agent), *later = run.fits
    torch.testing.assert_close(first_agent.weights[-1], first_fitted.weights[-1])  # the average starts at the first fit
    assert len(later) >= 1
    for before, fitted, agent in later:
        # past the first layer (which only absorbs the input units) each weight moved a quarter of the way
        for i in (1, 2):
            for name in ("weights", "biases"):
                start, end, got = (getattr(m, name)[i].detach() for m in (before, fitted, agent))
                torch.testing.assert_close(got, start + 0.25 * (end - start))
            assert not torch.allclose(agent.weights[i], fitted.weights[i])
    np.testing.assert_allclose(run.agent_reward_model.predict(np.zeros((1, 3), np.float32)),
                               agent.predict(np.zeros((1, 3), np.float32)), rtol=1e-6)
    shifts = [(m["rm/reward_shift"], m["rm/fitted_shift"]) for m in run.metrics.read() if "rm/reward_shift" in m]
    assert len(shifts) == 2 and all(0 < s < 5 and 0 < f < 5 for s, f in shifts)
    saved = RewardEnsemble.from_npz((tmp_path / "run/agent_reward_model.npz").read_bytes())
    assert torch.equal(saved.weights[-1], run.agent_reward_model.weights[-1])

    config = RunConfig(**TINY, reward_tau=0.25)
    with pytest.raises(Killed):
        DiesAfterFirstChunk(config, tmp_path / "killed").run()
    kept = RewardEnsemble.from_npz((tmp_path / "killed/checkpoint/agent_reward_model.npz").read_bytes())
    resumed = PreferenceRun(config, tmp_path / "killed")
    assert resumed.reward_wrapper.reward_model is resumed.agent_reward_model
    assert torch.equal(resumed.agent_reward_model.weights[1], kept.weights[1])
    assert torch.equal(resumed.agent_reward_model.std, kept.std)
    assert not torch.equal(resumed.agent_reward_model.weights[1], resumed.reward_model.weights[1])
    assert resumed.run()["labels"] == 24

    plain = PreferenceRun(RunConfig(**TINY), tmp_path / "plain")
    assert plain.agent_reward_model is plain.reward_model
    plain.run()
    assert not (tmp_path / "plain/agent_reward_model.npz").exists()
    assert any("rm/reward_shift" in m for m in plain.metrics.read())
    assert not any("rm/fitted_shift" in m for m in plain.metrics.read())  # the same as rm/reward_shift there


@pytest.mark.parametrize("change, message", [({"reward_tau": 0}, "--reward-tau must be in"),
                                             ({"reward_tau": 1.5}, "--reward-tau must be in"),
                                             ({"reward_tau": 0.5, "reward_model": "r.npz"}, "drop one of them")])
def test_bad_reward_tau_is_refused(change, message):
    with pytest.raises(ConfigError, match=message):
        RunConfig(**TINY, **change)


class CountsRestarts(PreferenceRun):
    """Keeps, for each restart, the replaced policy's weights and the new one's as it starts."""

    def restart(self):
        old = policy_params(self.agent)
        super().restart()
        self.restarts = [*getattr(self, "restarts", []), (old, policy_params(self.agent))]


class DiesAfterFirstChunkCountsRestarts(CountsRestarts, DiesAfterFirstChunk):
    pass


def policy_params(agent) -> list[torch.Tensor]:
    return [p.detach().clone() for p in agent.policy.parameters()]


def test_a_restart_check_that_does_not_fire_changes_nothing(tmp_path):
    plain = train(RunConfig(**TINY), tmp_path / "plain")
    never = train(RunConfig(**TINY, restart_at=2048, restart_below=-1e9), tmp_path / "never")
    assert never["restarted_at"] is None and plain["restarted_at"] is None
    assert never["final_true_return"] == plain["final_true_return"]
    assert (tmp_path / "never/reward_model.npz").read_bytes() == (tmp_path / "plain/reward_model.npz").read_bytes()
    rows = [[{k: v for k, v in json.loads(line).items() if k != "wall_time"}
             for line in (tmp_path / name / "metrics.jsonl").read_text().splitlines()] for name in ("plain", "never")]
    assert rows[0] == rows[1]


def test_a_policy_judged_below_the_threshold_restarts_from_a_new_seed_and_the_run_goes_on(tmp_path):
    from prefrl import agents
    from prefrl.trainer import RESTART_SEED

    config = RunConfig(**TINY, restart_at=2000, restart_below=1e9)  # any r_hat is below: it fires at 2048
    run = CountsRestarts(config, tmp_path / "run")
    summary = run.run()
    [(old, new)] = run.restarts
    assert summary["restarted_at"] == 2048 and summary["env_steps"] == 4096 and summary["labels"] == 24
    # the new policy is a fresh one seeded seed + RESTART_SEED, not the replaced one
    fresh = agents.make_agent(dataclasses.replace(config, seed=config.seed + RESTART_SEED), run.agent.get_env(), None)
    for a, b in zip(new, policy_params(fresh), strict=True):
        torch.testing.assert_close(a, b)
    assert any(not torch.equal(a, b) for a, b in zip(new, old, strict=True))
    # the judged chunk is the plain run's; the next one is learned by the new policy
    train(RunConfig(**TINY), tmp_path / "plain")
    rows = {name: [{k: v for k, v in json.loads(line).items() if k != "wall_time"}
                   for line in (tmp_path / name / "metrics.jsonl").read_text().splitlines()] for name in ("run", "plain")}
    assert [r["env_steps"] for r in rows["run"]] == [2048, 4096]
    assert rows["run"][0] == rows["plain"][0] and rows["run"][1] != rows["plain"][1]

    # killed right after the restart, a run resumes with its new policy and does not judge again
    with pytest.raises(Killed):
        DiesAfterFirstChunkCountsRestarts(config, tmp_path / "killed").run()
    resumed = CountsRestarts(config, tmp_path / "killed")
    assert resumed.restart_checked and resumed.restarted_at == 2048 and resumed.agent.num_timesteps == 2048
    assert resumed.run()["restarted_at"] == 2048
    assert not hasattr(resumed, "restarts")


@pytest.mark.parametrize("change, message", [
    ({"restart_at": 100, "true_reward": True}, "drop --true-reward or --restart-at"),
    ({"restart_at": 100, "offline": True}, "drop --offline or --restart-at"),
    ({"restart_at": 4096}, "--restart-at must come after --explore-steps"),
    ({"restart_at": 1000, "explore_steps": 1000}, "--restart-at must come after --explore-steps"),
    ({"restart_at": -5}, "--restart-at must be >= 0"),
    ({"restart_below": 0.5}, "add --restart-at or drop it"),
    ({"restart_at": 100, "restart_below": float("nan")}, "--restart-below must be a finite number")])
def test_bad_restart_settings_are_refused(change, message):
    with pytest.raises(ConfigError, match=message):
        RunConfig(**TINY, **change)
