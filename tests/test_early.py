import json

import pytest

from experiments import early


def write_run(path, final, rows):
    path.mkdir(parents=True)
    (path / "summary.json").write_text(json.dumps({"final_true_return": final}))
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def runs(tmp_path):
    # r_hat per step at the record after 100 steps: 0.2 and 0.4 for the runs ending low, 0.3 to 0.9 for the others
    values = {"a": (0.2, -50.0), "b": (0.4, 400.0), "c": (0.3, 1500.0), "d": (0.9, 2500.0), "e": (0.6, 3000.0)}
    return [write_run(tmp_path / name, final, [{"env_steps": 64, "train/mean_r_hat": 5.0},
                                               {"env_steps": 128, "train/mean_r_hat": v, "eval/true_return": 1.0},
                                               {"env_steps": 192}])
            for name, (v, final) in values.items()]


def test_values_at_a_step_rank_correlation_and_auc(runs, tmp_path, capsys):
    out = tmp_path / "new" / "early.json"
    assert early.main([*map(str, runs), "--metric", "train/mean_r_hat", "--at", "100", "--low", "1000",
                       "--out", str(out)]) == 0
    [at100] = json.loads(out.read_text())
    # the first record at or after 100 steps: 128's
    assert at100["values"] == {str(r): v for r, v in zip(runs, (0.2, 0.4, 0.3, 0.9, 0.6), strict=True)}
    assert at100["runs"] == 5 and at100["low_runs"] == [str(runs[0]), str(runs[1])]
    # ranks of the values 1 3 2 5 4 against the finals' 1 2 3 4 5: Spearman 1 - 6 * 4 / (5 * 24) = 0.8
    assert at100["rank_corr_with_final"] == pytest.approx(0.8)
    # low 0.2 is below all three others; low 0.4 is below 0.9 and 0.6, above 0.3: 5 of 6 pairs
    assert at100["auc_low"] == pytest.approx(5 / 6)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == ("train/mean_r_hat at 100 steps (5 runs): rank correlation with the final return +0.80; "
                        "AUC for the 2 ending below 1000: 0.83")


def test_bad_input_exits_with_one_line_and_overwrites_nothing(runs, tmp_path, capsys):
    def fails(argv, message):
        with pytest.raises(SystemExit) as e:
            early.main(argv)
        assert e.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and err.count("\n") == 1

    (tmp_path / "empty").mkdir()
    fails([str(tmp_path / "empty")], "no summary.json; give the folder of a finished run")
    fails([str(runs[0]), "--at", "1e5"], "--at takes env step counts")
    fails([*map(str, runs), "--at", "150"], "no run logs train/mean_r_hat at or after 150 env steps")
    fails([str(runs[0]), "--metric", "rm/agreement"], "no run logs rm/agreement at or after 100000 env steps")
    (tmp_path / "keep.json").write_text("keep")
    fails([str(runs[0]), "--out", str(tmp_path / "keep.json")], "exists")
    assert (tmp_path / "keep.json").read_text() == "keep"
