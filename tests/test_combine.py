import json
import re

import pytest

from experiments import combine, compare
from prefrl import results
from prefrl.config import RunConfig


def _folder(path, runs):
    """A results folder's summary.json, as experiments.plot writes it."""
    path.mkdir()
    summary = results.summarise(runs)
    (path / "summary.json").write_text(json.dumps(summary))
    return summary


def _folder_on_disk(path, runs):
    """A results folder as a sweep leaves it (runs/<name>/ with config, metrics, summary), plotted."""
    for k, run in enumerate(runs):
        d = path / "runs" / f"{k:02d}_s{run.config['seed']}"
        d.mkdir(parents=True)
        (d / "config.json").write_text(json.dumps(run.config))
        (d / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in run.metrics))
        (d / "summary.json").write_text(json.dumps(run.summary))
    (path / "summary.json").write_text(json.dumps(results.summarise(results.load_runs(path))))


def _run(env, final, seed, labels=700, **changes):
    metrics = [{"env_steps": 1, "eval/true_return": 0.0}]
    return results.Run("r", RunConfig(env=env, labels=labels, seed=seed, **changes).to_dict(), metrics,
                       {"final_true_return": final, "wall_time": 60.0, "env_steps": 1000})


def test_per_task_picks_are_read_like_one_setting_over_tasks(tmp_path, capsys):
    a = _folder(tmp_path / "a", [
        _run("Hopper", 0.0, 0), _run("Hopper", 100.0, 1),
        _run("Hopper", 100.0, 0, true_reward=True), _run("Hopper", 80.0, 1, true_reward=True),
        _run("Walker2d", 120.0, 0), _run("Walker2d", 60.0, 1), _run("Walker2d", 90.0, 2),
        _run("Walker2d", 100.0, 0, true_reward=True), _run("Walker2d", 100.0, 1, true_reward=True),
        _run("Walker2d", 10.0, 0, labels=350),
    ])
    # another folder: Hopper with an RL setting of its own, against its own baseline (which shares it)
    b = _folder(tmp_path / "b", [
        _run("Hopper", 200.0, 0, ent_coef=0.01), _run("Hopper", 150.0, 1, ent_coef=0.01),
        _run("Hopper", 200.0, 0, true_reward=True, ent_coef=0.01), _run("Hopper", 250.0, 1, true_reward=True, ent_coef=0.01),
    ])
    # every pick of one setting from one folder: that setting's across_tasks row, to the digit
    same = combine.combine([f"{tmp_path / 'a'}::Hopper 700 labels disagreement",
                            f"{tmp_path / 'a'}::Walker2d 700 labels disagreement"])
    row = results.across_tasks(a)["700 labels disagreement"]
    assert (same["mean_pct"], same["mean_pct_ci95"]) == (row["mean_pct"], row["mean_pct_ci95"])
    assert same["mean_pct_ci95"][0] < same["mean_pct"] < same["mean_pct_ci95"][1]
    # Hopper from b, Walker2d from a: each task's % against its own folder's baseline
    hopper_b = b["Hopper 700 labels disagreement ent_coef=0.01"]
    assert hopper_b["true_reward_baseline"] == "Hopper true reward ent_coef=0.01"
    mixed = combine.combine([f"{tmp_path / 'b'}::Hopper 700 labels disagreement ent_coef=0.01",
                             f"{tmp_path / 'a'}::Walker2d 700 labels disagreement"])
    assert mixed["mean_pct"] == pytest.approx((hopper_b["return_vs_true_reward_pct"]
                                               + a["Walker2d 700 labels disagreement"]["return_vs_true_reward_pct"]) / 2)
    assert [r["baseline"] for r in mixed["per_task"]] == ["Hopper true reward ent_coef=0.01", "Walker2d true reward"]
    out = tmp_path / "c.json"
    assert combine.main([f"{tmp_path / 'b'}::Hopper 700 labels disagreement ent_coef=0.01",
                         f"{tmp_path / 'a'}::Walker2d 700 labels disagreement", "--out", str(out)]) == 0
    assert json.loads(out.read_text()) == mixed
    assert f"mean over tasks, 700 labels: {mixed['mean_pct']:.0f}%" in capsys.readouterr().out


def test_a_pick_reads_some_of_its_seeds_as_a_folder_of_those_seeds_would(tmp_path):
    baselines = [_run("Hopper", 100.0 + seed, seed, true_reward=True) for seed in (0, 1, 2)]
    hopper = [_run("Hopper", final, seed) for seed, final in enumerate([10.0, 90.0, 40.0, 70.0, 95.0])]
    walker = [_run("Walker2d", 50.0, 0), _run("Walker2d", 100.0, 0, true_reward=True)]
    _folder_on_disk(tmp_path / "all", [*hopper, *baselines, *walker])
    _folder_on_disk(tmp_path / "some", [hopper[1], *hopper[3:], *baselines, *walker])  # seeds 1, 3, 4 alone
    group = "Hopper 700 labels disagreement"
    _, _, stats, summary = results.read_group(f"{tmp_path / 'all'}::{group}::1,3-4")
    _, _, alone, _ = results.read_group(f"{tmp_path / 'some'}::{group}")
    assert stats == alone and sorted(stats["seeds"]) == [1, 3, 4]
    assert stats["final_true_return_mean"] == pytest.approx(85.0)
    assert summary["Hopper true reward"]["seeds"] == [0, 1, 2]  # the baselines keep all their seeds
    picks = [f"{tmp_path / 'all'}::{group}::1,3-4", f"{tmp_path / 'all'}::Walker2d 700 labels disagreement"]
    filtered, copied = combine.combine(picks), combine.combine([f"{tmp_path / 'some'}::{group}", picks[1]])
    assert (filtered["mean_pct"], filtered["mean_pct_ci95"]) == (copied["mean_pct"], copied["mean_pct_ci95"])
    assert filtered["per_task"][0]["seeds"] == copied["per_task"][0]["seeds"] == stats["seeds"]
    everything = results.read_group(f"{tmp_path / 'all'}::{group}")[2]
    assert everything["return_vs_true_reward_pct"] != stats["return_vs_true_reward_pct"]
    for seeds, message in (("5", "has no seed 5; its seeds are 0, 1, 2, 3, 4"), ("3-1", "give seeds"), ("a", "give seeds")):
        with pytest.raises(ValueError, match=message):
            results.read_group(f"{tmp_path / 'all'}::{group}::{seeds}")


def test_one_group_on_two_sets_of_seeds_compares_as_two_samples_unless_they_share_a_seed(tmp_path):
    hopper = [_run("Hopper", final, seed) for seed, final in enumerate([10.0, 20.0, 30.0, 70.0, 80.0, 90.0])]
    _folder_on_disk(tmp_path / "all", [*hopper, _run("Hopper", 100.0, 0, true_reward=True)])
    group = f"{tmp_path / 'all'}::Hopper 700 labels disagreement"
    result = compare.compare(f"{group}::0-2", f"{group}::3-5")
    assert [g["seeds"] for g in result["groups"]] == [[0, 1, 2], [3, 4, 5]]
    assert result["mean_difference"] == pytest.approx(-60.0) and result["permutation_p"] == pytest.approx(0.1)
    for a, b, shared in ((f"{group}::0-3", f"{group}::3-5", "[3]"), (group, group, "[0, 1, 2, 3, 4, 5]")):
        with pytest.raises(ValueError, match=rf"compared with itself \(seeds {re.escape(shared)} in both\)"):
            compare.compare(a, b)


@pytest.mark.parametrize("picks, message", [
    (["a::Hopper 700 labels disagreement", "a::Hopper 700 labels disagreement"], "names a task twice"),
    (["a::Hopper 700 labels disagreement", "a::Walker2d 350 labels disagreement"], "different label budgets"),
    (["a::Hopper 1400 labels disagreement"], "no group 'Hopper 1400 labels disagreement'"),
    (["a::Hopper true reward"], "pick a preference group"),
    (["a"], "give DIR::GROUP"),
    (["nowhere::Hopper 700 labels disagreement"], "no such file"),
])
def test_bad_picks_exit_with_one_line(tmp_path, monkeypatch, capsys, picks, message):
    _folder(tmp_path / "a", [_run("Hopper", 50.0, 0), _run("Hopper", 100.0, 0, true_reward=True),
                             _run("Walker2d", 50.0, 0, labels=350), _run("Walker2d", 100.0, 0, true_reward=True)])
    monkeypatch.chdir(tmp_path)
    (tmp_path / "keep.json").write_text("keep")
    with pytest.raises(SystemExit) as e:
        combine.main(picks)
    err = capsys.readouterr().err
    assert e.value.code == 2 and message in err and err.startswith("error: ") and len(err.splitlines()) == 1
    with pytest.raises(SystemExit):
        combine.main(["a::Hopper 700 labels disagreement", "--out", "keep.json"])
    assert (tmp_path / "keep.json").read_text() == "keep"
