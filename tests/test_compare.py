import json

import numpy as np
import pytest

from experiments import compare
from prefrl import results
from prefrl.config import RunConfig


def _folder(path, runs):
    """A results folder's summary.json, as experiments.plot writes it."""
    path.mkdir()
    (path / "summary.json").write_text(json.dumps(results.summarise(runs)))


def _run(env, final, seed, labels=700, **changes):
    return results.Run("r", RunConfig(env=env, labels=labels, seed=seed, **changes).to_dict(),
                       [{"env_steps": 1, "eval/true_return": 0.0}],
                       {"final_true_return": final, "wall_time": 60.0, "env_steps": 1000})


def test_small_groups_get_the_exact_permutation_test_and_fisher(tmp_path, capsys):
    _folder(tmp_path / "a", [_run("Hopper", x, s) for s, x in enumerate([1.0, 2.0, 3.0])]
            + [_run("Hopper", x, s, true_reward=True) for s, x in enumerate([4.0, 5.0, 6.0])])
    a, b = f"{tmp_path / 'a'}::Hopper 700 labels disagreement", f"{tmp_path / 'a'}::Hopper true reward"
    result = compare.compare(a, b, success=3.5)
    assert result["mean_difference"] == -3.0
    # of the 20 ways to split six seeds three and three, only the observed one and its mirror
    # give a difference of 3
    assert result["permutation"] == "exact, 20 splits" and result["permutation_p"] == pytest.approx(0.1)
    assert result["prob_improvement"] == 0.0 and result["prob_improvement_ci95"] == [0.0, 0.0]
    # pooled variance 1, difference 3: 2 x 7.85 / 9 = 1.74 -> 2 seeds a group
    assert result["seeds_needed_80pct_power"] == 2
    low, high = result["mean_difference_ci95"]
    assert -5.0 <= low < -3.0 < high <= -1.0
    # 0 of 3 against 3 of 3 above 3.5: the two extreme tables, each 1 / C(6, 3)
    assert result["success"] == {"threshold": 3.5, "above": [0, 3], "seeds": [3, 3], "fisher_p": pytest.approx(0.1)}
    # the same numbers every time (the stream is fixed by the groups' names)
    assert compare.compare(a, b, success=3.5) == result
    out = tmp_path / "c.json"
    assert compare.main([a, b, "--success", "3.5", "--out", str(out)]) == 0
    assert json.loads(out.read_text()) == result
    printed = capsys.readouterr().out
    assert "A - B = -3 [" in printed and "0 of 3 against 3 of 3" in printed and "not distinguishable" in printed


def test_large_groups_are_shuffled_at_random_and_across_folders(tmp_path):
    # 14 seeds a group: C(28, 14) splits is too many to list
    _folder(tmp_path / "a", [_run("Walker2d", float(s), s) for s in range(14)])
    _folder(tmp_path / "b", [_run("Walker2d", 100.0 + s, s, true_reward=True) for s in range(14)]
            + [_run("Walker2d", 1.0 + s, s, true_reward=True, obs_norm=True) for s in range(14)])
    a = f"{tmp_path / 'a'}::Walker2d 700 labels disagreement"
    far = compare.compare(a, f"{tmp_path / 'b'}::Walker2d true reward")
    assert far["permutation"] == "100000 random shuffles"
    assert far["permutation_p"] < 1e-3 and far["prob_improvement"] == 0.0
    near = compare.compare(a, f"{tmp_path / 'b'}::Walker2d true reward obs_norm=True")
    assert near["mean_difference"] == -1.0 and 0.3 < near["permutation_p"] < 0.8
    # the same spread (variance 17.5) and a difference of 1: 2 x 7.85 x 17.5 = 274.7 -> 275 seeds a group
    assert near["seeds_needed_80pct_power"] == 275
    assert near["prob_improvement"] == pytest.approx((78 + 0.5 * 13) / 196)
    assert near["prob_improvement_ci95"][0] < near["prob_improvement"] < near["prob_improvement_ci95"][1]


def test_paired_reads_the_seeds_both_groups_ran(tmp_path, capsys):
    _folder(tmp_path / "a", [_run("Hopper", x, s) for s, x in enumerate([10.0, 5.0, 7.0, 9.0])]
            + [_run("Hopper", x, s + 1, true_reward=True) for s, x in enumerate([4.0, 6.0, 7.0, 100.0])])
    a, b = f"{tmp_path / 'a'}::Hopper 700 labels disagreement", f"{tmp_path / 'a'}::Hopper true reward"
    result = compare.compare(a, b, success=6.5, paired=True)
    # seeds 1-3: A 5, 7, 9 against B 4, 6, 7; differences 1, 1, 2
    assert [g["seeds"] for g in result["groups"]] == [[1, 2, 3], [1, 2, 3]]
    assert result["mean_difference"] == pytest.approx(4 / 3)
    # of the 8 ways to sign three differences, only all-plus and all-minus reach |mean| 4/3
    assert result["permutation"] == "exact, 8 sign flips" and result["permutation_p"] == pytest.approx(0.25)
    assert result["prob_improvement"] == 1.0
    # variance 1/3 of the differences, mean 4/3: 7.85 x (1/3) / (16/9) = 1.47 -> 2 pairs
    assert result["seeds_needed_80pct_power"] == 2
    # above 6.5: seeds 2, 3 of A, seed 3 of B; one discordant seed
    assert result["success"] == {"threshold": 6.5, "above": [2, 1], "seeds": [3, 3], "mcnemar_p": 1.0}
    assert compare.main([a, b, "--paired"]) == 0
    assert "paired on the seeds both ran: 1, 2, 3" in capsys.readouterr().out
    # unpaired, the same groups use every seed of each
    assert [len(g["seeds"]) for g in compare.compare(a, b)["groups"]] == [4, 4]


def test_mcnemar_exact():
    # six discordant seeds all one way: 2 x (1/2)^6
    assert compare.mcnemar_exact_p(0, 6) == pytest.approx(2 / 64)
    assert compare.mcnemar_exact_p(3, 3) == 1.0


def test_fisher_matches_the_tea_tasting_table():
    # Fisher's lady tasting tea: 3 of 4 against 1 of 4, two-sided p = 34 / 70
    assert compare.fisher_exact_p(3, 4, 1, 4) == pytest.approx(34 / 70)
    assert compare.fisher_exact_p(2, 4, 2, 4) == pytest.approx(1.0)


def test_equal_means_need_no_number_of_seeds():
    # strict JSON has no infinity: None, and the report says why
    assert compare.seeds_needed(np.array([1.0, 3.0]), np.array([2.0, 2.0])) is None


def test_prob_improvement_counts_ties_half():
    assert compare.prob_improvement(np.array([1.0, 2.0]), np.array([1.0, 0.0])) == pytest.approx(0.875)


@pytest.mark.parametrize("pair, message", [
    (["a::Hopper 700 labels disagreement", "a::Walker2d true reward"], "not comparable"),
    (["a::Hopper 700 labels disagreement", "a::Hopper 700 labels disagreement"], "compared with itself"),
    (["a::Hopper 350 labels disagreement", "a::Hopper true reward"], "at least 2 seeds"),
    (["a::Hopper 1400 labels disagreement", "a::Hopper true reward"], "no group 'Hopper 1400 labels disagreement'"),
    (["nowhere::Hopper true reward", "a::Hopper true reward"], "no such file"),
    (["a", "a::Hopper true reward"], "give DIR::GROUP"),
    (["a::Hopper 700 labels disagreement", "a::Hopper true reward", "--paired"], "at least 2 seeds run in both"),
])
def test_bad_input_exits_with_one_line_and_keeps_files(tmp_path, monkeypatch, capsys, pair, message):
    _folder(tmp_path / "a", [_run("Hopper", 50.0, s) for s in range(2)] + [_run("Hopper", 9.0, 0, labels=350)]
            + [_run("Hopper", 100.0 + s, s + 1, true_reward=True) for s in range(2)]
            + [_run("Walker2d", 100.0 + s, s, true_reward=True) for s in range(2)])
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        compare.main(pair)
    err = capsys.readouterr().err
    assert e.value.code == 2 and message in err and err.startswith("error: ") and len(err.strip().splitlines()) == 1
    (tmp_path / "keep.json").write_text("keep")
    with pytest.raises(SystemExit):
        compare.main(["a::Hopper 700 labels disagreement", "a::Hopper true reward", "--out", "keep.json"])
    assert (tmp_path / "keep.json").read_text() == "keep"


def test_curves_average_each_groups_evaluations_over_its_seeds(tmp_path, capsys):
    runs = tmp_path / "a" / "runs"
    for seed in range(2):
        for true_reward, returns in ((False, [0.0, 10.0 + seed, 30.0]), (True, [0.0, 20.0, 40.0 + 2 * seed])):
            cfg = RunConfig(env="Hopper", labels=700, seed=seed, true_reward=true_reward).to_dict()
            d = runs / f"{'true' if true_reward else 'pref'}_s{seed}"
            d.mkdir(parents=True)
            (d / "config.json").write_text(json.dumps(cfg))
            # the preference runs also log a record without an evaluation, which the curve skips
            metrics = [{"env_steps": 1000 * (i + 1), "eval/true_return": r} for i, r in enumerate(returns)]
            metrics.insert(1, {"env_steps": 1500, "train/true_return": 5.0})
            (d / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in metrics))
            (d / "summary.json").write_text(json.dumps({"final_true_return": returns[-1], "wall_time": 60.0,
                                                        "env_steps": 3000}))
    (tmp_path / "a" / "summary.json").write_text(json.dumps(results.summarise(results.load_runs(tmp_path / "a"))))
    a, b = f"{tmp_path / 'a'}::Hopper 700 labels disagreement", f"{tmp_path / 'a'}::Hopper true reward"
    result = compare.compare(a, b, success=15.0, curves=True)
    # late: from 60% of the last step (1800) on, i.e. the evaluations at 2000 and 3000
    assert result["groups"][0]["eval_curve"] == {"env_steps": [1000, 2000, 3000], "mean": [0.0, 10.5, 30.0],
                                                 "above": [0, 0, 2], "late_from": 2000,
                                                 "late_spread_per_seed": [10.0, 9.5], "late_spread": 9.75}
    assert result["groups"][1]["eval_curve"] == {"env_steps": [1000, 2000, 3000], "mean": [0.0, 20.0, 41.0],
                                                 "above": [0, 2, 2], "late_from": 2000,
                                                 "late_spread_per_seed": [10.0, 11.0], "late_spread": 10.5}
    assert compare.main([a, b, "--curves"]) == 0
    out = capsys.readouterr().out
    assert "A, mean evaluation return by env steps: 1k 0, 2k 10, 3k 30" in out
    assert "B, spread of a run's evaluations from 2k steps on (std within the run, mean over seeds): 10" in out
    # a summary whose runs are not in the folder: --curves says so in one line
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "summary.json").write_text((tmp_path / "a" / "summary.json").read_text())
    (tmp_path / "b" / "runs").mkdir()
    with pytest.raises(ValueError, match="lacks the metrics"):
        compare.compare(f"{tmp_path / 'b'}::Hopper 700 labels disagreement", b, curves=True)


def test_the_report_names_the_cpu_models_when_the_groups_mix_them(tmp_path, capsys):
    """A seed's number reproduces only on the CPU model that made it, so a comparison says which
    models each group's seeds ran on when they are not all one; runs without provenance count as
    unrecorded."""
    def on(cpu, run):
        if cpu:
            run.summary["provenance"] = {"cpu": cpu}
        return run

    same = [on("AMD EPYC", _run("Hopper", float(s), s)) for s in range(3)]
    mixed = [on(cpu, _run("Hopper", 10.0 + s, s, true_reward=True)) for s, cpu in enumerate(["Intel Xeon", "AMD EPYC", None])]
    _folder(tmp_path / "a", same + mixed)
    a, b = f"{tmp_path / 'a'}::Hopper 700 labels disagreement", f"{tmp_path / 'a'}::Hopper true reward"
    result = compare.compare(a, b)
    assert [g["cpus"] for g in result["groups"]] == [{"AMD EPYC": 3}, {"Intel Xeon": 1, "AMD EPYC": 1, "unrecorded": 1}]
    assert "B: 1 Intel Xeon, 1 AMD EPYC, 1 unrecorded" in compare.report(result)
    # paired: only the seeds both groups ran count
    paired = compare.compare(a, b, paired=True)
    assert paired["groups"][1]["cpus"] == {"Intel Xeon": 1, "AMD EPYC": 1, "unrecorded": 1}
    # one model on both sides: nothing to say
    _folder(tmp_path / "b", same + [on("AMD EPYC", _run("Hopper", 10.0 + s, s, true_reward=True)) for s in range(3)])
    plain = compare.compare(f"{tmp_path / 'b'}::Hopper 700 labels disagreement", f"{tmp_path / 'b'}::Hopper true reward")
    assert "CPU models" not in compare.report(plain)


def test_a_summary_from_before_cpus_were_listed_reads_them_from_the_runs(tmp_path):
    """Folders whose summary.json predates ``cpu_per_seed`` still name their runs' CPUs, read from
    each run's own summary.json."""
    from prefrl.run_dir import provenance

    folder = tmp_path / "old"
    _folder(folder, [_run("Hopper", float(s), s) for s in range(2)] + [_run("Hopper", 5.0 + s, s, true_reward=True) for s in range(2)])
    summary = json.loads((folder / "summary.json").read_text())
    for stats in summary.values():
        del stats["cpu_per_seed"]
    (folder / "summary.json").write_text(json.dumps(summary))
    run = folder / "runs" / "Hopper_700_s0"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps(RunConfig(env="Hopper", labels=700, seed=0).to_dict()))
    (run / "summary.json").write_text(json.dumps({"final_true_return": 0.0, "provenance": provenance()}))
    result = compare.compare(f"{folder}::Hopper 700 labels disagreement", f"{folder}::Hopper true reward")
    assert result["groups"][0]["cpus"] == {provenance()["cpu"]: 1, "unrecorded": 1}
    assert result["groups"][1]["cpus"] == {"unrecorded": 2}
