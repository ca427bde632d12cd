import json

import numpy as np
import pytest

import tests.toy_env  # noqa: F401  (registers prefrl/ToyLine-v0)
from experiments import horizon
from prefrl.config import RunConfig
from prefrl.trainer import train
from tests.test_trainer import TINY


def test_windows_reproduce_the_final_evaluation_and_scale_the_training_return(tmp_path, capsys):
    run = tmp_path / "run"
    summary = train(RunConfig(**{**TINY, "train_episode_steps": 32}), run)
    assert horizon.main([str(run), "--window", "10", "--out", str(tmp_path / "h.json")]) == 0
    [result] = json.loads((tmp_path / "h.json").read_text())
    # the same episodes as the final evaluation: its mean return, cut into ToyLine's 40 steps / 10
    assert result["true_return"] == pytest.approx(summary["final_true_return"], abs=1e-3)
    assert len(result["window_returns"]) == 4
    assert sum(result["window_returns"]) == pytest.approx(result["true_return"])
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    per_step = np.mean([m["train/true_return"] / 32 for m in rows[-horizon.LAST_CHUNKS:]])
    assert result["training_return_scaled"] == pytest.approx(per_step * 40)
    assert "window_heights" not in result  # ToyLine has no torso
    assert f"{run.name}: final {summary['final_true_return']:.0f}" in capsys.readouterr().out
    assert result["actions"] == "deterministic"
    sampled = []
    for name in ("s1.json", "s2.json"):
        assert horizon.main([str(run), "--window", "10", "--stochastic", "--out", str(tmp_path / name)]) == 0
        sampled.append(json.loads((tmp_path / name).read_text())[0])
    assert sampled[0] == sampled[1]  # seeded: the same sampled actions each time
    assert sampled[0]["actions"] == "sampled" and sampled[0]["true_return"] != result["true_return"]
    assert sum(sampled[0]["window_returns"]) == pytest.approx(sampled[0]["true_return"])
    (run / "policy.zip").unlink()  # --training-only reads metrics.jsonl and summary.json alone
    assert horizon.main([str(run), "--training-only", "--out", str(tmp_path / "new" / "t.json")]) == 0  # folder made
    [only] = json.loads((tmp_path / "new" / "t.json").read_text())
    assert only == {k: result[k] for k in ("run", "env", "final_true_return", "training_return_scaled")}


def test_bad_input_exits_with_one_line_and_overwrites_nothing(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit) as e:
        horizon.main([str(tmp_path / "empty")])
    assert e.value.code == 2
    assert capsys.readouterr().err == f"error: {tmp_path / 'empty'}: no policy.zip; give the folder of a finished run\n"
    (tmp_path / "h.json").write_text("keep")
    with pytest.raises(SystemExit) as e:
        horizon.main([str(tmp_path / "empty"), "--out", str(tmp_path / "h.json")])
    assert e.value.code == 2 and "exists" in capsys.readouterr().err
    assert (tmp_path / "h.json").read_text() == "keep"
    with pytest.raises(SystemExit) as e:
        horizon.main([str(tmp_path / "empty"), "--stochastic", "--training-only"])
    assert e.value.code == 2 and "drop one" in capsys.readouterr().err
