"""experiments.backflip end to end with a tiny budget, and its command-line errors."""

import json
from pathlib import Path

import numpy as np
import pytest

from experiments import backflip, selection
from prefrl.config import RunConfig
from synthetic_oracle.backflip import FlipCount

TINY = {"env": "HopperBackflip", "oracle_score": "backflip", "labels": 16, "steps": 1024, "n_envs": 2,
        "pretrain_steps": 750, "chunk_steps": 512, "eval_every": 1024, "eval_episodes": 1,
        "final_eval_episodes": 2, "fit_steps_initial": 5, "fit_steps": 2, "oversample": 2,
        "gsde_every": 8}


def test_tiny_run_writes_summary_plot_and_gif(tmp_path, monkeypatch):
    monkeypatch.setattr(backflip, "PPO_KWARGS", backflip.PPO_KWARGS | {"n_steps": 128, "batch_size": 64,
                                                                      "n_epochs": 1})
    summary = backflip.backflip_run(RunConfig(**TINY), tmp_path / "run", launch=0.5).run()
    run = tmp_path / "run"
    assert summary["labels"] == 16 and summary["env_steps"] >= 1024
    assert summary["final_episodes"] == 2 and len(summary["final_flips_each_episode"]) == 2
    assert 0.0 <= summary["final_clean_flip_share"] <= 1.0
    assert json.loads((run / "summary.json").read_text()) == summary
    assert (run / "flips.png").stat().st_size > 0
    assert (run / summary["gifs"][0]).read_bytes()[:6] == b"GIF89a"
    evals = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert any("eval/flips_per_episode" in m for m in evals)
    shares = [m["launch_share"] for m in evals]  # the launch curriculum ran down to standing starts
    assert all(0.0 <= s < 0.5 for s in shares) and shares[-1] == 0.0
    assert summary["launch_share_start"] == 0.5
    assert 0.0 <= summary["final_launched_flips_per_episode"] <= 3.0
    assert all("eval/launched_flips_per_episode" in m for m in evals if "eval/flips_per_episode" in m)


def test_the_reward_model_picks_among_the_evaluated_policies(tmp_path, monkeypatch):
    from prefrl.reward_model import RewardEnsemble

    monkeypatch.setattr(backflip, "PPO_KWARGS", backflip.PPO_KWARGS | {"n_steps": 128, "batch_size": 64,
                                                                      "n_epochs": 1})
    run = backflip.backflip_run(RunConfig(**TINY | {"steps": 2048, "eval_every": 512}), tmp_path / "run")
    summary = run.run()
    path = tmp_path / "run"
    evaluated = [m["env_steps"] for m in run.metrics.read() if "eval/flips_per_episode" in m]
    assert len(evaluated) >= 3 and evaluated[-1] == summary["env_steps"]
    assert sorted(int(s) for s in summary["snapshot_ratings"]) == evaluated  # every evaluation kept
    # the ratings are the saved reward model's returns of the saved episodes, and the best is chosen
    model = RewardEnsemble.from_npz((path / "reward_model.npz").read_bytes())
    rates = selection.rate_snapshots(path / selection.SNAPSHOTS, model)
    assert rates == pytest.approx({int(s): r for s, r in summary["snapshot_ratings"].items()})
    assert len(set(rates.values())) == len(rates)  # a real choice: no two policies rated alike
    assert summary["selected_by"] == "r_hat"
    assert rates[summary["selected_env_steps"]] == max(rates.values())
    assert selection.rate_snapshots(path / selection.SNAPSHOTS) == pytest.approx(
        {int(s): r for s, r in summary["snapshot_oracle_scores"].items()})
    corr = summary["snapshot_rating_score_corr"]
    assert corr is None or -1.0 <= corr <= 1.0
    assert summary["selected_labels"] == next(m["labels"] for m in run.metrics.read()
                                              if m["env_steps"] == summary["selected_env_steps"])
    chosen = (path / selection.SNAPSHOTS / f"{summary['selected_env_steps']}.zip").read_bytes()
    assert (path / "policy_selected.zip").read_bytes() == chosen
    with np.load(path / selection.SNAPSHOTS / f"{summary['selected_env_steps']}.npz") as z:
        assert z["features"].shape == (1, 375, 16 + 3)  # one evaluation episode: observation and action
    assert summary["selected_episodes"] == 2 and len(summary["selected_flips_each_episode"]) == 2
    # the selected policy is the one evaluated: its episodes replay from the same seeds
    again = backflip.evaluate_flips(run.selected, 2, seed=TINY.get("seed", 0) + 20_000)
    assert np.mean([e.true_return for e in again]) == pytest.approx(summary["selected_true_return"])


def test_the_teacher_chooses_among_r_hats_best_with_labels_of_the_budget(tmp_path, monkeypatch):
    from prefrl import agents

    monkeypatch.setattr(backflip, "PPO_KWARGS", backflip.PPO_KWARGS | {"n_steps": 128, "batch_size": 64,
                                                                      "n_epochs": 1})
    config = RunConfig(**TINY | {"steps": 2048, "eval_every": 512})
    run = backflip.backflip_run(config, tmp_path / "run", select_labels=2)
    summary = run.run()
    path = tmp_path / "run"
    assert json.loads((path / "config.json").read_text())["labels"] == 14  # the reward model's share
    assert summary["training_labels"] == 14 and summary["labels"] == 16 and summary["select_labels"] == 2
    assert summary["selected_by"] == "teacher"
    rates = {int(s): r for s, r in summary["snapshot_ratings"].items()}
    assert len(rates) >= 4  # more policies evaluated than the teacher is shown
    top = selection.shortlist(rates, 3)
    assert top == sorted(rates, key=rates.get, reverse=True)[:3]
    comparisons = summary["selection_comparisons"]
    assert [c["right"] for c in comparisons] == [str(s) for s in top[1:]] and comparisons[0]["left"] == str(top[0])
    # each clip is one fresh episode of the candidate from the one standing start, judged by the oracle
    clips = {}
    for steps in top:
        agent = agents.load_agent(run.config, path / selection.SNAPSHOTS / f"{steps}.zip", None, None)
        clips[str(steps)] = backflip.evaluate_flips(agent, 1, config.seed + backflip.SELECT_SEED)[0].true_return
    chosen = str(top[0])
    for c in comparisons:
        assert c["left"] == chosen and c["left_score"] == pytest.approx(clips[c["left"]])
        assert c["right_score"] == pytest.approx(clips[c["right"]])
        assert c["answer"] == ("left" if c["left_score"] > c["right_score"] else
                               "right" if c["left_score"] < c["right_score"] else "equal")  # the perfect oracle
        chosen = c["right"] if c["answer"] == "right" else chosen
    assert str(summary["selected_env_steps"]) == chosen
    assert clips[chosen] == max(clips.values())  # a perfect teacher keeps the best clip it was shown
    chosen_zip = (path / selection.SNAPSHOTS / f"{chosen}.zip").read_bytes()
    assert (path / "policy_selected.zip").read_bytes() == chosen_zip


def test_a_resumed_run_drops_the_snapshots_made_after_its_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setattr(backflip, "PPO_KWARGS", backflip.PPO_KWARGS | {"n_steps": 128, "batch_size": 64,
                                                                      "n_epochs": 1})
    config = RunConfig(**TINY | {"eval_every": 512})
    killed = backflip.backflip_run(config, tmp_path / "run")
    monkeypatch.setattr(killed, "finish", lambda: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):  # killed after its last checkpoint, before the end
        killed.run()
    killed.close()
    snapshots = tmp_path / "run" / selection.SNAPSHOTS
    kept = sorted(f.name for f in snapshots.iterdir())
    for ext in ("zip", "npz"):  # what a kill between an evaluation and its checkpoint leaves
        (snapshots / f"999999.{ext}").write_bytes((snapshots / kept[0]).read_bytes())
    summary = backflip.backflip_run(config, tmp_path / "run").run()
    assert sorted(f.name for f in snapshots.iterdir()) == kept
    assert sorted(int(s) for s in summary["snapshot_ratings"]) == sorted({int(n.split(".")[0]) for n in kept})


def test_a_run_killed_in_its_final_evaluation_resumes_and_finishes(tmp_path, monkeypatch):
    monkeypatch.setattr(backflip, "PPO_KWARGS", backflip.PPO_KWARGS | {"n_steps": 128, "batch_size": 64,
                                                                      "n_epochs": 1})
    real = backflip.write_gifs
    monkeypatch.setattr(backflip, "write_gifs", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt))
    killed = backflip.backflip_run(RunConfig(**TINY), tmp_path / "run")
    with pytest.raises(KeyboardInterrupt):  # killed while writing its GIFs, the last of the run's work
        killed.run()
    killed.close()
    assert not (tmp_path / "run" / "summary.json").exists()  # not taken for a finished run
    monkeypatch.setattr(backflip, "write_gifs", real)
    summary = backflip.backflip_run(RunConfig(**TINY), tmp_path / "run").run()
    assert summary["labels"] == 16 and len(summary["final_flips_each_episode"]) == 2 and summary["gifs"]
    assert json.loads((tmp_path / "run" / "summary.json").read_text()) == summary


def test_best_snapshot_and_the_ceilings_rating(tmp_path):
    assert selection.best_snapshot({100: 1.0, 200: 3.0, 300: 2.0}) == 200
    assert selection.best_snapshot({100: 3.0, 200: 3.0}) == 200  # of equal ratings the latest
    for steps, score in ((100, [1.0, 3.0]), (200, [5.0, 5.0])):
        np.savez(tmp_path / f"{steps}.npz", features=np.zeros((2, 4, 3), np.float32), true_return=score)
    assert selection.rate_snapshots(tmp_path) == {100: 2.0, 200: 5.0}  # no reward model: the oracle's score
    assert selection.rank_corr([1.0, 2.0, 3.0], [10.0, 30.0, 20.0]) == pytest.approx(0.5)
    assert selection.rank_corr([1.0, 2.0, 3.0], [3.0, 2.0, 1.0]) == pytest.approx(-1.0)
    assert selection.rank_corr([1.0, 2.0, 3.0], [5.0, 5.0, 5.0]) is None  # a constant: no order to compare


def test_tiny_run_on_the_history_task_evaluates_on_it(tmp_path, monkeypatch):
    from envs.backflip import EPISODE_STEPS, HISTORY_DIM

    monkeypatch.setattr(backflip, "PPO_KWARGS", backflip.PPO_KWARGS | {"n_steps": 128, "batch_size": 64,
                                                                      "n_epochs": 1})
    run = backflip.backflip_run(RunConfig(**TINY | {"env": "HopperBackflipHistory"}), tmp_path / "run")
    summary = run.run()
    assert run.agent.observation_space.shape == (16 + HISTORY_DIM,)  # the policy reads the history too
    assert summary["env"] == "HopperBackflipHistory" and summary["final_episodes"] == 2
    episodes = backflip.evaluate_flips(run.agent, 1, seed=0, env_name="HopperBackflipHistory")
    assert episodes[0].obs.shape == (EPISODE_STEPS, 16 + HISTORY_DIM)
    assert np.isfinite(episodes[0].true_return)


def test_a_population_shares_one_label_budget_in_step(tmp_path):
    from prefrl.reward_model import RewardEnsemble
    from prefrl.store import LabelStore

    config = RunConfig(**TINY | {"labels": 16, "steps": 2048, "chunk_steps": 1024})
    summary = backflip.population_run(config, tmp_path / "pop", 2)  # two member processes, the task's own PPO
    pop = tmp_path / "pop"
    assert summary["labels"] == 16 and summary["env_steps_per_policy"] == [2048, 2048]
    assert [m["labels_asked"] for m in summary["members"]] == [8, 8]  # each its share, on its own clips
    assert [m["seed"] for m in summary["members"]] == [0, 1000]
    store = LabelStore(pop / "labels.sqlite")
    assert sorted(store.owners().values()) == [0] * 8 + [1] * 8 and store.count_labels() == 16
    store.close()
    rows = [[m for m in backflip_metrics(pop / f"member{k}")] for k in (0, 1)]
    # in step: at every chunk both members had learned from the same labels, every member's by then
    assert [m["labels"] for m in rows[0]] == [m["labels"] for m in rows[1]] and rows[0][-1]["labels"] == 16
    assert [m["env_steps"] for m in rows[0]] == [m["env_steps"] for m in rows[1]]
    # policy 0's final r_hat rates every member's evaluated policies; the best is the one kept
    judge = RewardEnsemble.from_npz((pop / "member0" / "reward_model.npz").read_bytes())
    rates = {f"{k}/{s}": r for k in (0, 1)
             for s, r in selection.rate_snapshots(pop / f"member{k}" / selection.SNAPSHOTS, judge).items()}
    assert rates == pytest.approx(summary["snapshot_ratings"]) and len(rates) == 4
    best = f"{summary['selected_member']}/{summary['selected_env_steps']}"
    assert rates[best] == max(rates.values())
    chosen = pop / f"member{summary['selected_member']}" / selection.SNAPSHOTS / f"{summary['selected_env_steps']}.zip"
    assert (pop / "policy_selected.zip").read_bytes() == chosen.read_bytes()
    assert summary["selected_episodes"] == 2 and (pop / "flips.png").stat().st_size > 0
    assert json.loads((pop / "summary.json").read_text()) == summary
    # the teacher's choice instead, among policy 0's r_hat's three best of the members' policies
    from prefrl.population import Member

    members = [Member(k, 2, pop / "labels.sqlite") for k in (0, 1)]
    chosen = backflip._population_summary(config, pop, members, 0.0, select_labels=2)
    assert chosen["selected_by"] == "teacher" and chosen["training_labels"] == 16 and chosen["labels"] == 18
    top = sorted(rates, key=rates.get, reverse=True)[:3]
    comparisons = chosen["selection_comparisons"]
    assert [comparisons[0]["left"]] + [c["right"] for c in comparisons] == top
    winner = top[0]
    for c in comparisons:
        winner = c["right"] if c["answer"] == "right" else winner
    assert f"{chosen['selected_member']}/{chosen['selected_env_steps']}" == winner
    member, steps = winner.split("/")
    assert (pop / "policy_selected.zip").read_bytes() == \
        (pop / f"member{member}" / selection.SNAPSHOTS / f"{steps}.zip").read_bytes()
    # repeatable whichever member runs ahead: the same population again gives the same ratings
    again = backflip.population_run(config, tmp_path / "again", 2)
    assert again["snapshot_ratings"] == summary["snapshot_ratings"]
    with pytest.raises(backflip.ConfigError, match="already finished"):
        backflip.population_run(config, pop, 2)


def test_a_population_killed_mid_run_resumes_with_no_label_lost(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    from prefrl.store import LabelStore

    pop = tmp_path / "pop"
    cmd = [sys.executable, "-m", "experiments.backflip", "--policies", "2", "--run-dir", str(pop), "--labels", "16",
           "--steps", "6144", "--n-envs", "2", "--pretrain-steps", "750", "--chunk-steps", "1024", "--eval-every",
           "1024", "--eval-episodes", "1", "--final-eval-episodes", "2", "--fit-steps-initial", "5", "--fit-steps",
           "2", "--oversample", "2"]
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen(cmd, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    while not all((pop / f"member{k}" / "checkpoint").exists() for k in (0, 1)) and time.time() < deadline:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # the command and both members, mid-run
    proc.wait()
    assert not (pop / "summary.json").exists()
    asked = LabelStore(pop / "labels.sqlite").count_labels()
    assert 0 < asked < 16
    done = subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=600)  # the same command resumes
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads((pop / "summary.json").read_text())
    store = LabelStore(pop / "labels.sqlite")
    assert store.count_labels() == summary["labels"] == 16 and len(store.queries()) == 16  # none asked twice
    assert sorted(store.owners().values()) == [0] * 8 + [1] * 8
    assert summary["env_steps_per_policy"] == [6144, 6144]


def backflip_metrics(path):
    return [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines()]


def test_population_member_shares():
    from prefrl.population import Member

    for size in (1, 2, 3):
        members = [Member(k, size, None) for k in range(size)]
        for due in (0, 1, 5, 125, 500):
            shares = [m.share(due) for m in members]
            assert sum(shares) == due and max(shares) - min(shares) <= 1
    assert Member(1, 2, None).seed(3) == 1003 and Member(0, 2, None).peers == [1]
    with pytest.raises(ValueError):
        Member(2, 2, None)


def test_a_population_refuses_what_it_cannot_resume(tmp_path):
    config = RunConfig(**TINY)
    for bad in ({"true_reward": True}, {"teacher": "human"}):
        with pytest.raises(backflip.ConfigError, match="--policies shares labels"):
            backflip.population_run(RunConfig(**TINY | bad), tmp_path / "bad", 2)
    with pytest.raises(backflip.ConfigError, match="drop --plan-iterations or --policies"):
        backflip.population_run(RunConfig(**TINY | {"plan_iterations": 1, "plan_queries": 2}), tmp_path / "bad", 2)
    assert not (tmp_path / "bad").exists()  # refused before anything is written
    from prefrl import run_dir

    run_dir.prepare(tmp_path / "pop", config)  # a population folder whose member 1 holds another run
    (tmp_path / "pop" / "member1").mkdir()
    (tmp_path / "pop" / "member1" / "config.json").write_text(json.dumps({"labels": 99}))
    with pytest.raises(backflip.ConfigError, match="holds a different config"):
        backflip.population_run(config, tmp_path / "pop", 2)
    assert json.loads((tmp_path / "pop" / "member1" / "config.json").read_text()) == {"labels": 99}
    with pytest.raises(backflip.ConfigError, match="population of 2 policies"):
        backflip.population_run(config, tmp_path / "pop", 3)


def test_flip_stats():
    stats = backflip.flip_stats([FlipCount(1, 0, 0), FlipCount(0, 0, 1), FlipCount(2, 1, 0), FlipCount(1, 0, 0)])
    assert stats["flips_per_episode"] == 1.0 and stats["clean_flip_share"] == 0.75
    lo, hi = stats["flips_per_episode_ci95"]
    assert lo < 1.0 < hi and np.isclose(hi - 1.0, 1.0 - lo)
    assert stats["falls_per_episode"] == 0.25 and stats["forward_flips_per_episode"] == 0.25


@pytest.mark.parametrize("args, message", [
    (["--label-port", "x"], "argument --label-port: invalid int value"),
    (["--env", "Hopper"], "HopperBackflipHistory only"),
    (["--launch-share", "2"], "--launch-share must be in [0, 1]"),
    (["--policies", "0"], "--policies must be at least 1"),
    (["--policies", "2", "--true-reward"], "--policies shares labels between policies"),
    (["--select-labels", "-1"], "--select-labels must be 0 or more"),
    (["--select-labels", "500", "--labels", "500"], "leaves none of the 500 labels for the reward model"),
    (["--select-labels", "13", "--true-reward"], "--select-labels has the synthetic oracle choose"),
    (["--select-labels", "13", "--teacher", "human"], "--select-labels has the synthetic oracle choose"),
    (["--select-labels", "490", "--labels", "500"], "leaves 10 of the 500 labels for the reward model, fewer before RL"),
])
def test_bad_input_exits_2_with_one_line(args, message, capsys, monkeypatch):
    monkeypatch.setattr("sys.argv", ["backflip", *args])
    with pytest.raises(SystemExit) as e:
        backflip.cli.main_guard(backflip.main)()
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_launch_curriculum_falls_to_zero():
    from experiments.backflip import LAUNCH_UNTIL, launch_share

    assert launch_share(0, 1000, 0.5) == 0.5
    assert launch_share(int(LAUNCH_UNTIL * 1000) // 2, 1000, 0.5) == pytest.approx(0.25, abs=1e-3)
    assert launch_share(int(LAUNCH_UNTIL * 1000), 1000, 0.5) == 0.0
    assert launch_share(1000, 1000, 0.5) == 0.0
    assert launch_share(0, 1000, 0.0) == 0.0


def test_planning_on_the_backflip_records_the_share_of_plans_that_flip(tmp_path, monkeypatch):
    from prefrl import planner
    from tests.test_backflip_oracle import _stand, rollout

    monkeypatch.setattr(backflip, "PPO_KWARGS", backflip.PPO_KWARGS | {"n_steps": 128, "batch_size": 64,
                                                                      "n_epochs": 1})
    for name, value in (("CANDIDATES", 4), ("ELITES", 2), ("DISTIL_ROLLOUTS", 2), ("DISTIL_KEEP", 1)):
        monkeypatch.setattr(planner, name, value)
    plan_steps = 2 * 4 * 250 + 2 * 250  # two iterations of 4 plans of 2 s, then 2 rollouts for cloning
    config = RunConfig(**TINY | {"plan_iterations": 2, "plan_queries": 2, "steps": plan_steps + 1024})
    run = backflip.backflip_run(config, tmp_path / "run")
    flip, standing = rollout(lambda t, u: _stand(u), launch=(5.5, -5.5)), rollout(lambda t, u: _stand(u))
    assert run.plan_metrics([flip, standing, standing, standing]) == {"plan/flip_share": 0.25}
    summary = run.run()
    assert summary["plan_env_steps"] == plan_steps and summary["labels"] == 16
    planning = [m for m in run.metrics.read() if "plan/iteration" in m]
    assert len(planning) == 2 and all(0.0 <= m["plan/flip_share"] <= 1.0 for m in planning)
    # flips.png shows the planner's batches (its labels are asked then), and is redrawn from the files
    from matplotlib.figure import Figure

    from experiments import backflip_replot

    drawn, savefig = [], Figure.savefig
    monkeypatch.setattr(Figure, "savefig", lambda fig, *a, **k: (
        drawn.append([[line.get_label() for line in ax.get_lines()] for ax in fig.axes]), savefig(fig, *a, **k))[1])
    (tmp_path / "run" / "flips.png").unlink()
    assert backflip_replot.main([str(tmp_path / "run")]) == 0
    assert (tmp_path / "run" / "flips.png").read_bytes()[:4] == b"\x89PNG"
    labels_panel, _, score_panel, _ = drawn[-1]
    assert "this run, planner's batches, share of plans flipping" in labels_panel
    assert "this run, planner's batches, mean" in score_panel


def test_replot_refuses_what_is_not_a_finished_run(tmp_path):
    from experiments import backflip_replot
    from prefrl.config import ConfigError

    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ConfigError, match="not a finished run .no summary.json, metrics.jsonl"):
        backflip_replot.main([str(tmp_path)])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json"]
