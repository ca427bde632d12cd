import dataclasses
import json
import math

import numpy as np
import pytest

import tests.toy_env  # noqa: F401
from experiments import plot, sweep
from prefrl import plots, results
from prefrl.config import ConfigError, RunConfig
from prefrl.trainer import train
from tests.test_trainer import TINY


def test_grid_has_every_cell_and_the_baseline():
    grid = sweep.SweepConfig(envs="Hopper,Walker2d", labels="350,700", seeds="0,1", oracles="perfect,beta1").grid()
    names = [name for name, _ in grid]
    assert len(names) == len(set(names)) == 2 * 2 * (1 + 2 * 2)
    assert "Walker2d_true_s1" in names and "Hopper_700_disagreement_beta1_s0" in names
    cfg = dict(grid)["Hopper_350_disagreement_beta1_s1"]
    assert (cfg.labels, cfg.seed, cfg.oracle_beta) == (350, 1, 1.0)


def test_grid_segment_lengths_axis():
    grid = dict(sweep.SweepConfig(seeds="0", segments="0,1.5", baseline=False).grid())
    assert sorted(grid) == ["Hopper_700_disagreement_perfect_s0", "Hopper_700_disagreement_perfect_seg1.5_s0"]
    assert grid["Hopper_700_disagreement_perfect_seg1.5_s0"].segment_seconds == 1.5
    assert grid["Hopper_700_disagreement_perfect_s0"].segment_seconds == RunConfig.segment_seconds == 0


def test_grid_overrides_apply_to_every_run_and_name_it():
    grid = dict(sweep.SweepConfig(seeds="2", overrides="ent_coef=0.01,fit_steps=60").grid())
    assert sorted(grid) == ["Hopper_700_disagreement_perfect_ent_coef0.01_fit_steps60_s2",
                            "Hopper_true_ent_coef0.01_fit_steps60_s2"]
    assert all(c.ent_coef == 0.01 and c.fit_steps == 60 for c in grid.values())


def test_a_path_override_names_one_folder_directly_under_runs(tmp_path):
    model = tmp_path / "models" / "r_hat.npz"
    model.parent.mkdir()
    model.write_bytes(b"")  # the grid checks only that the file exists; the run would read it
    grid = dict(sweep.SweepConfig(seeds="0", baseline=False, overrides=f"reward_model={model}").grid())
    [(name, cfg)] = grid.items()
    assert "/" not in name and name.endswith("models_r_hat.npz_s0")
    assert cfg.reward_model == str(model)


@pytest.mark.parametrize("field, value, message", [("oracles", "angry", "unknown oracle variant 'angry'"),
                                                   ("labels", "7x", "--labels: '7x' is not a comma-separated list of numbers"),
                                                   ("envs", "Hoper", "unknown env 'Hoper'"),
                                                   ("segments", "-1", "--segment-seconds must be in"),
                                                   ("segments", "1.5s", "--segments: '1.5s' is not a comma-separated list of numbers"),
                                                   ("overrides", "speed=3", "'speed=3' is not NAME=VALUE"),
                                                   ("overrides", "ent_coef=lots", "malformed value"),
                                                   ("overrides", "ent_coef=-1", "--ent-coef must be >= 0")])
def test_bad_grid_is_refused(field, value, message):
    with pytest.raises(ConfigError, match=message):
        sweep.SweepConfig(**{field: value}).grid()


def test_seeds_can_be_given_as_ranges():
    seeds = [cfg.seed for _, cfg in sweep.SweepConfig(seeds="0-2,7,10-11", baseline=False).grid()]
    assert seeds == [0, 1, 2, 7, 10, 11]
    with pytest.raises(ConfigError, match="the grid has run Hopper_true_s1 more than once"):
        sweep.SweepConfig(seeds="0-2,1").grid()
    for bad in ("3-1", "0-", "-2", "a-b", "1-2-3"):
        with pytest.raises(ConfigError, match=f"--seeds: '{bad}' is not a comma-separated list of numbers "
                                              r"\(e.g. --seeds 0,1,2 or 0-9\)"):
            sweep.SweepConfig(seeds=bad).grid()


@pytest.mark.parametrize("fields, message", [({"envs": ""}, "--envs is empty"), ({"seeds": " , "}, "--seeds is empty"),
                                             ({"selectors": ""}, "--selectors is empty, so the --labels runs"),
                                             ({"oracles": ""}, "--oracles is empty"),
                                             ({"labels": "", "baseline": False}, "the grid has no runs")])
def test_a_grid_that_would_run_nothing_or_drop_runs_is_refused(fields, message):
    with pytest.raises(ConfigError, match=message):
        sweep.SweepConfig(**fields).grid()
    assert sweep.SweepConfig(labels="", baseline=False, scaled_baseline=True).grid()  # the scaled baseline alone


def test_runs_made_with_other_settings_are_not_counted_as_finished(tmp_path, capsys):
    """A sweep into a folder whose run directories hold runs of other settings (here 4096 steps, not 8192)
    is refused before anything is written, not reported as 'already finished' with the old runs' results."""
    from prefrl import run_dir

    argv = ["--envs", "ToyLine", "--labels", "24", "--seeds", "0", "--imports", "tests.toy_env", "--out", str(tmp_path)]
    grid = sweep.SweepConfig(envs="ToyLine", labels="24", seeds="0", steps=4096).grid()
    for name, cfg in grid:
        (tmp_path / "runs" / name).mkdir(parents=True)
        (tmp_path / "runs" / name / "config.json").write_text(json.dumps(run_dir.config_json(cfg)))
        (tmp_path / "runs" / name / "summary.json").write_text("{}")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    with pytest.raises(ConfigError, match=r"2 of this grid's runs .* were made with other settings "
                                          r"\(ToyLine_true_s0 differs in: steps; \.\.\.\); pass another --out"):
        sweep.main([*argv, "--steps", "8192"])
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before  # no sweep.json either
    assert sweep.main([*argv, "--steps", "4096"]) == 0  # the same settings: finished, nothing to run
    assert "2 runs in the grid, 2 already finished, 0 to run" in capsys.readouterr().err


def test_a_ray_address_where_nothing_answers_is_refused_at_once(tmp_path):
    pytest.importorskip("ray")
    import socket
    import time

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.monotonic()
    with pytest.raises(ConfigError, match=f"--ray 127.0.0.1:{port}: nothing answers at 127.0.0.1:{port}"):
        sweep.main(["--envs", "ToyLine", "--seeds", "0", "--imports", "tests.toy_env", "--out", str(tmp_path / "o"),
                    "--ray", f"127.0.0.1:{port}"])
    assert time.monotonic() - start < 30 and not (tmp_path / "o").exists()
    with pytest.raises(ConfigError, match="'nowhere' is not HOST:PORT"):
        sweep.connect_ray("nowhere", 1)


def test_each_sweep_into_a_folder_is_recorded_and_a_foreign_file_is_kept(tmp_path):
    path = tmp_path / "sweep.json"
    earlier = sweep.SweepConfig(labels="350")
    path.write_text(json.dumps(dataclasses.asdict(earlier)))  # the earlier one-sweep format
    sweep.log_sweep(path, sweep.SweepConfig(labels="700"), ["--labels", "700", "--out", "my results"])
    entries = json.loads(path.read_text())["sweeps"]
    assert [e["labels"] for e in entries] == ["350", "700"]
    assert entries[1]["command"] == "python -m experiments.sweep --labels 700 --out 'my results'"
    sweep.log_sweep(path, earlier, [])
    assert len(json.loads(path.read_text())["sweeps"]) == 3
    for text in ("{not json", '{"loss": 1}'):
        path.write_text(text)
        with pytest.raises(ConfigError, match="move it away"):
            sweep.log_sweep(path, earlier, [])
        assert path.read_text() == text


def _log_sweeps(path, start, n):
    for i in range(n):
        start.wait()
        sweep.log_sweep(path, sweep.SweepConfig(labels=str(i)), [])


def test_sweeps_started_together_into_one_folder_all_land_in_its_record(tmp_path):
    """Two sweeps into one folder at once (one per core, a common way to fill a folder) each add their entry,
    neither fails nor drops the other's."""
    import multiprocessing

    path, ctx = tmp_path / "sweep.json", multiprocessing.get_context("fork")
    start = ctx.Barrier(4)
    procs = [ctx.Process(target=_log_sweeps, args=(path, start, 25)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0] * 4
    assert sorted(int(e["labels"]) for e in json.loads(path.read_text())["sweeps"]) == sorted(list(range(25)) * 4)
    assert [f.name for f in tmp_path.iterdir()] == ["sweep.json"]  # nothing left beside it


def test_plot_summarises_seeds_against_the_true_reward_baseline(tmp_path):
    for seed in (0, 1):
        for true_reward in (False, True):
            name = f"ToyLine_{'true' if true_reward else 24}_s{seed}"
            train(RunConfig(**{**TINY, "seed": seed, "true_reward": true_reward, "steps": 2048}), tmp_path / "runs" / name)
    assert plot.main([str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    runs = results.load_runs(tmp_path)
    (pref_group,) = [k for k in summary if k != "ToyLine true reward n_envs=4"]  # TINY's RL setting
    assert pref_group.startswith("ToyLine 24 labels disagreement ") and "fit_steps=20" in pref_group  # TINY's
    pref = summary[pref_group]
    base = summary["ToyLine true reward n_envs=4"]
    assert pref["seeds"] == [0, 1] and base["seeds"] == [0, 1]
    r0 = base["initial_true_return_mean"]
    assert r0 == pytest.approx(sum(results.initial_return(r) for r in runs if r.config["true_reward"]) / 2)
    gain = base["final_true_return_mean"] - r0  # one chunk of the toy task: the baseline may not gain
    expected = 100 * (pref["final_true_return_mean"] - r0) / gain if gain > 0 else math.nan
    assert pref["return_vs_true_reward_pct"] == pytest.approx(expected, nan_ok=True)
    assert pref["raw_return_ratio_pct"] == pytest.approx(
        100 * pref["final_true_return_mean"] / base["final_true_return_mean"])
    setting = json.loads((tmp_path / "across_tasks.json").read_text())[pref_group.removeprefix("ToyLine ")]
    assert setting["pct_per_task"] == ({"ToyLine": pytest.approx(expected)} if math.isfinite(expected) else {})
    for png in ("learning_curves", "bits_of_feedback", "reward_model_accuracy", "reward_hacking"):
        assert (tmp_path / f"{png}.png").stat().st_size > 10_000


def test_plot_of_a_folder_without_runs_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="has no runs/ folder"):
        plot.main([str(tmp_path)])


def test_ray_runs_the_jobs_and_imports_extra_task_modules(tmp_path, monkeypatch):
    pytest.importorskip("ray")
    from pathlib import Path

    # Ray's workers inherit the environment: make this checkout (and so tests.toy_env) importable there.
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parents[1]))
    small = TINY | {"steps": 1024, "chunk_steps": 512, "eval_every": 1024}
    jobs = [(name, RunConfig(**small, **extra).to_dict(), str(tmp_path), ["tests.toy_env"])
            for name, extra in (("toy_true", {"true_reward": True}), ("toy_24", {}))]
    reported = {}
    sweep.connect_ray("local", 2)
    sweep.run_on_ray(jobs, lambda name, summary: reported.setdefault(name, summary))
    assert sorted(reported) == ["toy_24", "toy_true"]
    for name, summary in reported.items():
        assert json.loads((tmp_path / "runs" / name / "summary.json").read_text()) == summary
    assert reported["toy_24"]["labels"] == 24 and reported["toy_true"]["labels"] == 0


def test_a_sweep_killed_outright_stops_its_runs_so_a_restart_is_their_only_writer(tmp_path):
    """SIGKILL gives the sweep no chance to stop its workers: the kernel does (die_with_parent), so the
    run's directory is free for the sweep started again to resume it."""
    import os
    import subprocess
    import sys
    import time
    from pathlib import Path

    from prefrl import run_dir

    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen([sys.executable, "-m", "experiments.sweep", "--envs", "ToyLine", "--imports", "tests.toy_env",
                             "--labels", "24", "--seeds", "0", "--baseline", "false", "--steps", "100000000",
                             "--workers", "1", "--out", str(tmp_path)], cwd=root,
                            env=os.environ | {"PYTHONPATH": str(root)}, stderr=subprocess.DEVNULL)
    lock = tmp_path / "runs" / "ToyLine_24_disagreement_perfect_s0" / run_dir.LOCK_FILE
    worker = None
    try:
        deadline = time.time() + 120
        while worker is None and time.time() < deadline and proc.poll() is None:
            text = lock.read_text().strip() if lock.exists() else ""
            worker = int(text) if text else None
            time.sleep(0.2)
        assert worker is not None and worker != proc.pid, "the sweep's worker never locked its run directory"
        with pytest.raises(ConfigError, match="in use by another process"):
            run_dir.lock(lock.parent, hold=False)
        proc.kill()
        proc.wait()
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                run_dir.lock(lock.parent, hold=False)
                break
            except ConfigError:
                time.sleep(0.2)
        run_dir.lock(lock.parent, hold=False)  # free: the worker died with the sweep
    finally:
        proc.kill()
        if worker is not None:
            try:
                os.kill(worker, 9)
            except ProcessLookupError:
                pass


def test_imports_of_a_missing_module_is_a_clear_error():
    with pytest.raises(ConfigError, match="--imports: cannot import 'no_such_module'"):
        sweep.import_all(["no_such_module"])


def test_reward_fit_of_a_finished_run(tmp_path, capsys):
    from experiments import reward_fit

    train(RunConfig(**TINY), tmp_path / "run")
    assert reward_fit.main([str(tmp_path / "run"), "--episodes", "2"]) == 0
    fit = json.loads((tmp_path / "run" / "reward_fit.json").read_text())
    assert fit["steps"] == 2 * 40 and -1 <= fit["corr_true_reward"] <= 1
    assert math.isfinite(fit["r_hat_return_per_episode"])
    assert set(fit["fit_weights"]) == set(fit["corr_parts"]) and fit["fit_weights"]
    assert json.loads(capsys.readouterr().out) == fit
    with pytest.raises(ConfigError, match="not a run directory"):
        reward_fit.main([str(tmp_path)])
    assert reward_fit.main([str(tmp_path / "run"), "--episodes", "2", "--deterministic", "--gammas", "1,0.5",
                            "--window", "30"]) == 0
    fit = json.loads((tmp_path / "run" / "reward_fit.json").read_text())
    # undiscounted from the start: the return per episode; per window: the episode cut in 30 + 10 steps
    assert fit["deterministic"] and fit["discounted_from_start"]["1"]["true"] == pytest.approx(fit["true_return_per_episode"])
    assert fit["discounted_from_start"]["1"]["r_hat"] == pytest.approx(fit["r_hat_return_per_episode"], rel=1e-5)
    assert len(fit["true_per_window"]) == 2 and sum(fit["true_per_window"]) == pytest.approx(fit["true_return_per_episode"])
    for bad, message in ((["--gammas", "0.9,x"], "not a comma-separated list"), (["--gammas", "1.5"], r"in \(0, 1\]"),
                         (["--window", "0"], "--window must be positive")):
        with pytest.raises(ConfigError, match=message):
            reward_fit.main([str(tmp_path / "run"), *bad])


def test_discounted_return_from_each_episodes_first_step():
    from experiments.reward_fit import discounted_from_start, per_window

    rewards = np.array([1.0, 2.0, 4.0, 0.0, 0.0, 8.0])  # two episodes of three steps
    assert discounted_from_start(rewards, 2, 0.5) == pytest.approx(((1 + 1 + 1) + (0 + 0 + 2)) / 2)
    assert per_window(rewards, 2, 2) == pytest.approx([(1 + 2 + 0 + 0) / 2, (4 + 8) / 2])


def test_runs_that_differ_in_any_learning_setting_are_grouped_apart():
    def group(**changes):
        return results.Run("r", RunConfig(**changes).to_dict(), [], None).group

    assert group(seed=0, steps=1000) == group(seed=3, steps=5000, eval_every=7) == "Hopper 700 labels disagreement"
    assert group(pretrain_fraction=0.5) == "Hopper 700 labels disagreement pretrain_fraction=0.5"
    assert group(gsde_every=8) != group() != group(oracle_beta=1.0)


def test_a_group_of_runs_of_different_lengths_is_refused_not_averaged():
    def run(name, steps):
        return results.Run(name, RunConfig(steps=steps).to_dict(), [{"env_steps": 1, "eval/true_return": 0.0}],
                           {"final_true_return": 1.0, "wall_time": 60.0, "env_steps": steps})

    assert results.summarise([run("a", 4096), run("b", 4096)])["Hopper 700 labels disagreement"]["env_steps"] == 4096
    with pytest.raises(ConfigError, match=r"group 'Hopper 700 labels disagreement' mixes runs of 4096 and 8192 "
                                          r"steps \(e.g. a, c\); move one length's runs to another folder"):
        results.summarise([run("a", 4096), run("b", 4096), run("c", 8192)])


def test_grid_can_add_the_baseline_on_the_standardised_true_reward():
    grid = dict(sweep.SweepConfig(seeds="0", scaled_baseline=True).grid())
    assert sorted(grid) == ["Hopper_700_disagreement_perfect_s0", "Hopper_true_s0", "Hopper_true_scaled_s0"]
    assert grid["Hopper_true_scaled_s0"].scale_true_reward and grid["Hopper_true_scaled_s0"].true_reward
    assert not grid["Hopper_true_s0"].scale_true_reward


@pytest.mark.parametrize("scaled_final, reference", [(300.0, "Hopper true reward scaled"), (150.0, "Hopper true reward")])
def test_preference_runs_are_measured_against_the_stronger_true_reward_baseline(scaled_final, reference):
    def run(final, first_eval=-100.0, wall=60.0, share=None, **changes):
        metrics = [{"env_steps": 1, "eval/true_return": first_eval}]
        return results.Run("r", RunConfig(**changes).to_dict(), metrics, {
            "final_true_return": final, "wall_time": wall, "cpu_time": wall / 2, "env_steps": 1000,
            **({} if share is None else {"preference_loop_cpu_share": share})})

    summary = results.summarise([run(100.0, wall=90.0, share=0.2), run(100.0, wall=90.0, share=0.5, seed=1),
                                 run(200.0, true_reward=True),
                                 run(scaled_final, first_eval=-50.0, wall=180.0, true_reward=True,
                                     scale_true_reward=True)])
    assert set(summary) == {"Hopper 700 labels disagreement", "Hopper true reward", "Hopper true reward scaled"}
    pref = summary["Hopper 700 labels disagreement"]
    each = {"Hopper true reward": 100 * 200 / 300, "Hopper true reward scaled": 100 * 200 / (scaled_final + 100)}
    assert pref["true_reward_baseline"] == reference
    assert pref["return_vs_each_true_reward_pct"] == pytest.approx(each)
    assert pref["return_vs_true_reward_pct"] == pytest.approx(each[reference])
    assert pref["wall_time_vs_true_reward"] == pytest.approx(1.5)  # always against the plain true-reward run
    assert pref["cpu_time_vs_true_reward"] == pytest.approx(1.5) and pref["cpu_time_min_mean"] == pytest.approx(0.75)
    # the runs' own CPU split: mean share, and the overhead over the same RL without the loop
    assert pref["preference_loop_cpu_share_mean"] == pytest.approx(0.35)
    assert pref["cpu_overhead_from_parts"] == pytest.approx((1 / 0.8 + 1 / 0.5) / 2)
    assert "cpu_overhead_from_parts" not in summary["Hopper true reward"]


def logging_run(key, values, seed=0, **changes):
    """A finished run that logged ``key`` once per value after its first evaluation."""
    metrics = [{"env_steps": 1, "eval/true_return": 0.0}]
    metrics += [{"env_steps": 2 + i, key: v} for i, v in enumerate(values)]
    return results.Run("r", RunConfig(seed=seed, **changes).to_dict(), metrics,
                       {"final_true_return": 1.0, "wall_time": 60.0, "env_steps": 1000})


def test_summary_keeps_each_preference_runs_last_agreement_with_the_true_order():
    def run(agreements, seed=0, **changes):
        return logging_run("rm/agreement", agreements, seed, **changes)

    summary = results.summarise([run([0.5, 0.9, math.nan]), run([0.7, 0.8], seed=1), run([], true_reward=True),
                                 run([0.6], labels=350), run([], labels=350, seed=1)])
    pref = summary["Hopper 700 labels disagreement"]
    assert pref["final_agreement_per_seed"] == [0.9, 0.8]  # the last finite value of each seed
    assert pref["final_agreement_mean"] == pytest.approx(0.85)
    # a baseline has none, and a group with a seed that logged none has no mean to report
    assert "final_agreement_mean" not in summary["Hopper true reward"]
    assert "final_agreement_mean" not in summary["Hopper 350 labels disagreement"]


def test_summary_keeps_how_often_r_hat_already_predicted_the_new_labels():
    def run(accuracies, seed=0, **changes):
        return logging_run("rm/heldout_accuracy", accuracies, seed, **changes)

    summary = results.summarise([run([1.0, 0.5, math.nan]), run([0.0, 1.0, 1.0, 1.0], seed=1),
                                 run([], true_reward=True), run([1.0], labels=350), run([], labels=350, seed=1)])
    pref = summary["Hopper 700 labels disagreement"]
    assert pref["new_label_accuracy_per_seed"] == [0.75, 0.75]  # mean over each seed's finite batches
    assert pref["new_label_accuracy_mean"] == pytest.approx(0.75)
    assert "new_label_accuracy_mean" not in summary["Hopper true reward"]
    assert "new_label_accuracy_mean" not in summary["Hopper 350 labels disagreement"]


def test_baselines_with_other_rl_settings_are_grouped_apart_and_a_run_is_timed_against_its_own():
    def run(final, first_eval, wall, **changes):
        metrics = [{"env_steps": 1, "eval/true_return": first_eval}]
        return results.Run("r", RunConfig(**changes).to_dict(), metrics,
                           {"final_true_return": final, "wall_time": wall, "env_steps": 1000})

    base, normed = run(300.0, -50.0, 60.0, true_reward=True), run(200.0, -100.0, 55.0, true_reward=True, obs_norm=True)
    summary = results.summarise([run(100.0, 0.0, 66.0, obs_norm=True), base, normed])
    pref = summary["Hopper 700 labels disagreement obs_norm=True"]
    assert {"Hopper true reward", "Hopper true reward obs_norm=True"} < set(summary)
    assert pref["true_reward_baseline"] == "Hopper true reward"  # the stronger, whatever its settings
    # R0 from the run's own baseline (obs_norm's first evaluation, -100)
    assert pref["return_vs_each_true_reward_pct"] == pytest.approx(
        {"Hopper true reward obs_norm=True": 100 * 200 / 300, "Hopper true reward": 100 * 200 / 400})
    assert pref["wall_time_vs_true_reward"] == pytest.approx(66 / 55)  # the same RL without the loop
    baselines = {"Hopper true reward": base, "Hopper true reward obs_norm=True": normed}
    assert results.own_baseline(run(0.0, 0.0, 1.0, members=5), baselines) == "Hopper true reward"
    assert results.own_baseline(run(0.0, 0.0, 1.0, obs_norm=True, members=5), baselines) == \
        "Hopper true reward obs_norm=True"
    assert results.own_baseline(run(0.0, 0.0, 1.0, gsde_every=8), {"Hopper true reward obs_norm=True": normed}) is None


def test_no_percentage_of_a_baseline_that_learned_nothing(tmp_path):
    """Ant's true-reward run ended below its first evaluation: a share of its (negative) gain
    would read as a percentage of progress that never happened."""
    def run(final, **changes):
        metrics = [{"env_steps": 1, "eval/true_return": -570.0}]
        return results.Run("r", RunConfig(env="Ant", **changes).to_dict(), metrics,
                           {"final_true_return": final, "wall_time": 60.0, "env_steps": 1000})

    summary = results.summarise([run(-687.0), run(-768.0, true_reward=True)])
    pref = summary["Ant 700 labels disagreement"]
    assert math.isnan(pref["return_vs_true_reward_pct"])
    assert pref["raw_return_ratio_pct"] == pytest.approx(100 * 687 / 768)
    assert "cpu_time_min_mean" not in pref and "cpu_overhead_from_parts" not in pref  # runs made before either was recorded
    plots.bits_of_feedback(summary, tmp_path / "bits.png")  # drawn, with the task named as not shown
    assert (tmp_path / "bits.png").stat().st_size > 10_000


def test_posture_counts_upside_down_steps_of_each_run(tmp_path, capsys):
    import numpy as np

    from experiments import posture

    assert posture.upside_down_share(np.array([1.0, 0.2, -0.1, -1.0])) == 0.5
    small = TINY | {"env": "HalfCheetah", "true_reward": True, "steps": 1024, "chunk_steps": 512,
                    "eval_every": 1024, "final_eval_episodes": 1}
    summary = train(RunConfig(**small), tmp_path / "runs" / "cheetah")
    assert 0 <= summary["final_upside_down"] <= 1  # every evaluation of a planar body measures it
    rows = [json.loads(line) for line in (tmp_path / "runs/cheetah/metrics.jsonl").read_text().splitlines()]
    assert [0 <= r["eval/upside_down"] <= 1 for r in rows if "eval/true_return" in r] == [True]
    toy = train(RunConfig(**TINY), tmp_path / "runs" / "toy")  # another task: not rolled out
    assert "final_upside_down" not in toy and "final_true_return" in toy
    groups = results.summarise(results.load_runs(tmp_path))
    assert [g["final_upside_down_per_seed"] for g in groups.values() if g["env"] == "HalfCheetah"] == [
        [summary["final_upside_down"]]]
    assert not any("final_upside_down_per_seed" in g for g in groups.values() if g["env"] == "ToyLine")
    (tmp_path / "posture.json").write_text(json.dumps({"Hopper": {"h": {"upside_down_share": 0.5}}}))
    assert posture.main([str(tmp_path), "--episodes", "1"]) == 0
    kept = json.loads((tmp_path / "posture.json").read_text())
    assert kept["Hopper"] == {"h": {"upside_down_share": 0.5}}  # another task's rows are kept
    assert list(kept["HalfCheetah"]) == ["cheetah"]
    assert 0 <= kept["HalfCheetah"]["cheetah"]["upside_down_share"] <= 1
    assert "cheetah: " in capsys.readouterr().out
    with pytest.raises(ConfigError, match="posture is measured for Hopper, Walker2d, HalfCheetah only"):
        posture.main([str(tmp_path), "--env", "Swimmer"])
    (tmp_path / "posture.json").write_text("{oops")
    with pytest.raises(ConfigError, match="is not JSON"):
        posture.main([str(tmp_path)])
    assert (tmp_path / "posture.json").read_text() == "{oops"


def test_a_setting_is_read_over_tasks_as_the_mean_of_its_percentages():
    """The targets are stated over tasks ("700 labels >= 100% on average over the three"):
    across_tasks pairs a setting's groups on each task and averages their %s."""
    def run(env, final, labels=700, wall=66.0, **changes):
        metrics = [{"env_steps": 1, "eval/true_return": 0.0}]
        return results.Run("r", RunConfig(env=env, labels=labels, **changes).to_dict(), metrics,
                           {"final_true_return": final, "wall_time": wall, "env_steps": 1000})

    summary = results.summarise([
        run("Hopper", 150.0), run("Hopper", 300.0, wall=60.0, true_reward=True),
        run("Walker2d", 120.0), run("Walker2d", 100.0, wall=55.0, true_reward=True),
        run("Walker2d", 30.0, labels=350),
        run("Ant", 10.0), run("Ant", -5.0, wall=60.0, true_reward=True),  # its baseline learned nothing
    ])
    rows = results.across_tasks(summary)
    assert set(rows) == {"700 labels disagreement", "350 labels disagreement"}
    row = rows["700 labels disagreement"]
    assert row["pct_per_task"] == pytest.approx({"Hopper": 50.0, "Walker2d": 120.0})
    assert row["mean_pct"] == pytest.approx(85.0)
    assert row["undefined"] == ["Ant"]
    assert row["mean_wall_time_ratio"] == pytest.approx((66 / 60 + 66 / 55) / 2)
    assert math.isnan(row["mean_cpu_time_ratio"])  # runs made before CPU time was recorded
    assert rows["350 labels disagreement"]["pct_per_task"] == pytest.approx({"Walker2d": 30.0})


def test_percentages_carry_a_bootstrap_interval_over_seeds():
    """A % of true-reward RL from 2-5 seeds is uncertain; summarise and across_tasks give its 95%
    percentile-bootstrap interval (seeds resampled within each group): a point when the seeds agree,
    the exact percentiles of the resampled means otherwise."""
    def run(env, final, seed, labels=700, **changes):
        metrics = [{"env_steps": 1, "eval/true_return": 0.0}]
        return results.Run("r", RunConfig(env=env, labels=labels, seed=seed, **changes).to_dict(), metrics,
                           {"final_true_return": final, "wall_time": 60.0, "env_steps": 1000})

    summary = results.summarise([
        # Hopper: preference seeds 0 and 100 against a baseline at 100 from R0 = 0: resampled means
        # are 0, 50 or 100 (1/4, 1/2, 1/4), so the interval is [0, 100] around the point 50
        run("Hopper", 0.0, 0), run("Hopper", 100.0, 1),
        run("Hopper", 100.0, 0, true_reward=True), run("Hopper", 100.0, 1, true_reward=True),
        # Walker2d: every seed alike, 120%: no spread
        run("Walker2d", 120.0, 0), run("Walker2d", 120.0, 1),
        run("Walker2d", 100.0, 0, true_reward=True), run("Walker2d", 100.0, 1, true_reward=True),
    ])
    hopper, walker = summary["Hopper 700 labels disagreement"], summary["Walker2d 700 labels disagreement"]
    assert hopper["return_vs_true_reward_pct"] == pytest.approx(50.0)
    assert hopper["return_vs_true_reward_pct_ci95"] == pytest.approx([0.0, 100.0])
    assert walker["return_vs_true_reward_pct_ci95"] == pytest.approx([120.0, 120.0])
    row = results.across_tasks(summary)["700 labels disagreement"]
    assert row["mean_pct"] == pytest.approx(85.0)
    assert row["mean_pct_ci95"] == pytest.approx([60.0, 110.0])  # (Hopper's interval + 120) / 2

    # a baseline seed that gained nothing leaves that draw undefined, not the whole interval
    draws = results.pct_resamples([50.0], [100.0, -10.0], [0.0], np.random.default_rng(0), n=2000)
    assert np.isnan(draws).any() and np.isfinite(draws).any()
    assert results.percentile_interval(draws)[0] == pytest.approx(50.0)  # (50 - 0) / mean(100, 100) or /45


def test_figures_name_what_tells_their_lines_apart_and_draw_the_mean_over_tasks(tmp_path):
    """A group's name holds every setting; the legends hold only what differs between the lines,
    the shared settings once in the caption, and the bits-of-feedback figure adds the mean over
    tasks for the settings measured on every task (the issue's targets)."""
    def run(env, final, seed, labels=700, **changes):
        metrics = [{"env_steps": 1, "eval/true_return": 0.0}, {"env_steps": 1000, "eval/true_return": final}]
        config = RunConfig(env=env, labels=labels, seed=seed, obs_norm=True, **changes).to_dict()
        return results.Run("r", config, metrics, {"final_true_return": final, "wall_time": 60.0, "env_steps": 1000})

    runs = [run(env, final + seed, seed, **extra) for env in ("Walker2d", "Hopper") for seed in (0, 1)
            for final, extra in ((100.0, {"true_reward": True}), (80.0, {}), (70.0, {"labels": 350}))]
    runs += [run("Hopper", 90.0, seed, members=5) for seed in (0, 1)]  # one task only: no mean over tasks
    summary = results.summarise(runs)
    bits = plots.bits_of_feedback(summary, tmp_path / "bits.png")
    assert bits["panels"] == ["Hopper", "Walker2d", "mean over tasks"]
    assert bits["legend"] == [plots.ONLY_SHARED, "members=5", "true-reward RL (100%)"]
    assert bits["caption"] == "every run: disagreement obs_norm=True"
    curves = plots.learning_curves(runs, tmp_path / "curves.png")
    assert curves["panels"] == ["Hopper", "Walker2d"]
    assert curves["legend"] == ["350 labels (n=2)", "700 labels (n=2)", "700 labels members=5 (n=2)",
                                "true reward (n=2)"]  # budgets in order, baselines last
    assert curves["caption"] == "every run: obs_norm=True\nevery preference run: disagreement"
    accuracy = plots.reward_model_accuracy(runs, tmp_path / "accuracy.png")
    assert accuracy["panels"] == ["Hopper", "Walker2d"] and accuracy["legend"] == []  # no accuracy logged
    assert plots.shorten({"a": ["x=1", "y=2"], "b": ["x=1"]}) == ({"a": "y=2", "b": ""}, ["x=1"])
