import json

import pytest

import tests.toy_env  # noqa: F401  (registers prefrl/ToyLineTrap-v0)
from experiments import grad_balance
from prefrl.config import ConfigError, RunConfig

SMALL = dict(env="ToyLineTrap", true_reward=True, steps=2048, n_envs=4)  # true reward ~1e6 per step


def test_return_norm_brings_the_value_gradient_down_to_the_policys():
    raw = grad_balance.gradient_norms(RunConfig(**SMALL), minibatches=8)
    scaled = grad_balance.gradient_norms(RunConfig(**SMALL, return_norm=True), minibatches=8)
    assert raw["minibatches"] == scaled["minibatches"] == 8 and raw["steps"] == 2048
    assert raw["value_target_std"] > 1e5 and scaled["value_target_std"] < 10
    assert raw["value_over_policy"] > 1e3 > 10 > scaled["value_over_policy"]
    assert raw["value_over_policy"] == pytest.approx(raw["value_grad_norm"] / raw["policy_grad_norm"], rel=0.5)
    with pytest.raises(ConfigError, match="drop --algo a2c"):
        grad_balance.gradient_norms(RunConfig(**SMALL, algo="a2c"))


def test_the_command_writes_its_result_and_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "g.json"
    argv = ["--env", "ToyLineTrap", "--steps", "1024", "--n-envs", "4", "--out", str(out)]
    assert grad_balance.main(argv) == 0
    assert json.loads(out.read_text())["env"] == "ToyLineTrap" and "value/policy" in capsys.readouterr().out
    before = out.read_text()
    with pytest.raises(SystemExit) as e:
        grad_balance.main(argv)
    assert e.value.code == 2 and out.read_text() == before
    assert capsys.readouterr().err.startswith("error: --out")
    with pytest.raises(SystemExit):
        grad_balance.main(["--env", "ToyLineTrap", "--true-reward", "false"])
    assert "measures PPO on the true reward" in capsys.readouterr().err
