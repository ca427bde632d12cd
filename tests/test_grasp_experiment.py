import json

import pytest

from experiments.grasp import GraspArgs, main, summarise
from prefrl.config import ConfigError


def test_unknown_judge_or_bad_seeds_are_config_errors():
    with pytest.raises(ConfigError, match="unknown judge"):
        GraspArgs(judges="camrea")
    with pytest.raises(ConfigError, match="--seeds"):
        GraspArgs(seeds="a,b")
    with pytest.raises(ConfigError, match="is not NAME=VALUE"):
        GraspArgs(overrides="speed=3")
    with pytest.raises(ConfigError, match="labels are set by this command's own flags"):
        GraspArgs(overrides="labels=5")


def test_grasp_runs_explore_with_gsde_unless_overridden():
    assert GraspArgs().run_config("camera", 0).gsde_every == 8
    assert GraspArgs(overrides="gsde_every=0").run_config("camera", 0).gsde_every == 0


def test_judge_view_trains_each_judge_on_the_task_whose_reward_model_sees_what_it_sees():
    from prefrl import agents

    args = GraspArgs(env="JudgeView", judges="camera,full,mitigated")
    envs_used = {j: args.run_config(j, 0).env for j in args.judge_list}
    assert envs_used == {"camera": "GraspCameraReward", "full": "Grasp", "mitigated": "GraspCamerasReward"}
    assert [agents.reward_obs(e) is None for e in envs_used.values()] == [False, True, False]
    with pytest.raises(ConfigError, match="JudgeView"):
        GraspArgs(env="JudgeViews")


def test_overrides_reach_every_run_config():
    config = GraspArgs(overrides="gsde_every=8,ent_coef=0.01").run_config("full", 1)
    assert (config.gsde_every, config.ent_coef, config.oracle_score, config.seed) == (8, 0.01, "grasp_full", 1)


def _write_metrics(path, rows):
    path.mkdir(parents=True)
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_summary_averages_seeds_and_measures_the_gap(tmp_path):
    fooled = {"camera": (0.6, 0.4), "full": (0.0, 0.0), "mitigated": (0.1, 0.1)}
    for judge, per_seed in fooled.items():
        for seed, f in enumerate(per_seed):
            _write_metrics(tmp_path / f"{judge}_s{seed}", [
                {"env_steps": 10, "labels": 5, "wall_time": 1.0},  # not an evaluation row
                {"env_steps": 100, "labels": 50, "grasp/true_success": 0.5, f"grasp/{judge}_success": 0.5 + f,
                 f"grasp/{judge}_fooled": f},
            ])
    args = GraspArgs(judges="camera,full,mitigated", seeds="0,1", out=str(tmp_path))
    results = summarise(tmp_path, args)
    final = results["judges"]["camera"]["final"]
    assert final["env_steps"] == 100 and final["seeds"] == 2
    assert final["perceived_fooled"] == pytest.approx(0.5) and final["perceived_success"] == pytest.approx(1.0)
    assert results["gap_camera_minus_full_fooled"] == pytest.approx(0.5)
    assert results["gap_removed_by_mitigation"] == pytest.approx(0.8)
    assert results["judges"]["camera"]["peak_fooled_per_seed"] == {0: 0.6, 1: 0.4}
    assert results["judges"]["camera"]["peak_fooled_mean"] == pytest.approx(0.5)


def test_the_peak_fooled_rate_is_each_seeds_highest_over_training(tmp_path):
    for seed, fooled in enumerate(((0.0, 0.9, 0.1), (0.2, 0.0, 0.0))):
        _write_metrics(tmp_path / f"camera_s{seed}", [
            {"env_steps": 100 * (i + 1), "labels": 5, "grasp/true_success": 0.0, "grasp/camera_success": f,
             "grasp/camera_fooled": f} for i, f in enumerate(fooled)])
    camera = summarise(tmp_path, GraspArgs(judges="camera", seeds="0,1", out=str(tmp_path)))["judges"]["camera"]
    assert camera["peak_fooled_per_seed"] == {0: 0.9, 1: 0.2}
    assert camera["peak_fooled_mean"] == pytest.approx(0.55)
    assert camera["final"]["perceived_fooled"] == pytest.approx(0.05)


def test_report_only_writes_results_plot_and_scripted_gifs(tmp_path):
    assert main(["--judges", "camera", "--seeds", "0", "--report-only", "--out", str(tmp_path)]) == 0
    names = {p.name for p in tmp_path.iterdir()}
    assert {"results.json", "success.png", "fooled_camera_scripted.gif", "honest_camera_scripted.gif"} <= names


def test_a_run_keeps_the_episode_of_its_most_fooled_evaluation(tmp_path):
    """Fooling can pass as training goes on: the fooled example comes from the evaluation that
    fooled the training judge most often, the honest one from the latest that had one."""
    from types import SimpleNamespace

    from envs.grasp import scripted_fake, scripted_grasp
    from experiments.grasp import make_run_class, record_episodes, scripted

    fake = record_episodes(scripted(scripted_fake), 1, seed=1, n_envs=1)
    honest = record_episodes(scripted(scripted_grasp), 1, seed=0, n_envs=1)
    run = SimpleNamespace(judge="camera", examples={}, path=tmp_path)
    keep = make_run_class().keep_examples
    keep(run, fake + honest, {"grasp/camera_fooled": 0.5, "grasp/true_success": 0.5}, 100)
    keep(run, honest, {"grasp/camera_fooled": 0.0, "grasp/true_success": 1.0}, 200)
    keep(run, fake + honest, {"grasp/camera_fooled": 0.25, "grasp/true_success": 0.5}, 300)
    kept = json.loads((tmp_path / "examples.json").read_text())
    assert kept == {"fooled": {"env_steps": 100, "rate": 0.5}, "honest": {"env_steps": 300, "rate": 0.5}}
    assert (tmp_path / "fooled_episode.npz").exists() and (tmp_path / "honest_episode.npz").exists()


def test_a_quick_run_trains_evaluates_and_reports(tmp_path):
    """The whole command, small: a preference run from the camera judge's comparisons, judged at
    every evaluation by all three judges, then results.json, the plot and the GIFs."""
    assert main(["--quick", "--judges", "camera", "--seeds", "0", "--out", str(tmp_path)]) == 0
    run = tmp_path / "camera_s0"
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    judged = [r for r in rows if "grasp/true_success" in r]
    assert len(judged) >= 2 and all(0.0 <= r["grasp/camera_fooled"] <= 1.0 for r in judged)
    assert (run / "summary.json").exists() and (run / "examples.json").exists()
    final = json.loads((tmp_path / "results.json").read_text())["judges"]["camera"]["final"]
    assert final["env_steps"] == judged[-1]["env_steps"]
    assert (tmp_path / "success.png").stat().st_size > 0
