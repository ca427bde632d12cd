"""Bad input on the command line: one line saying what to do, exit code 2, nothing overwritten."""

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import tests.toy_env  # noqa: F401
from experiments import mujoco
from prefrl import cli


def run_cli(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main_guard(lambda: mujoco.main(argv))()
    err = capsys.readouterr().err.strip()
    return exit_info.value.code, err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--env", "Hoper"], "unknown env 'Hoper'; known: Hopper, Walker2d"),
        (["--labels", "8"], "label budget 8 gives 2 pretraining labels; the reward model needs at least 4: "
                            "use --labels 16 or more"),
        (["--labels", "-5"], "--labels must be positive, got -5"),
        (["--labels", "seven"], "argument --labels: invalid int value: 'seven'"),
        (["--oracle-epsilon", "2"], "oracle knobs out of range"),
        (["--selector", "best"], "unknown selector 'best'; known: uniform, disagreement"),
        (["--label-port", "http"], "argument --label-port: invalid int value: 'http'"),
    ],
)
def test_bad_input_is_one_clear_line_and_exit_2(argv, message, capsys, tmp_path):
    code, err = run_cli([*argv, "--run-dir", str(tmp_path / "run")], capsys)
    assert code == 2
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_existing_run_dir_with_other_settings_is_not_touched(capsys, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text('{"env": "Hopper", "labels": 1400}')
    code, err = run_cli(["--run-dir", str(run)], capsys)
    assert code == 2 and "holds a different config" in err and len(err.splitlines()) == 1
    assert (run / "config.json").read_text() == '{"env": "Hopper", "labels": 1400}'
    assert sorted(p.name for p in run.iterdir()) == ["config.json"]


def test_the_real_entry_point_exits_2(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "experiments.mujoco", "--env", "Nope", "--run-dir", str(tmp_path / "r")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: unknown env 'Nope'")


@pytest.mark.parametrize("value", ["COMPAT", "SSE9", "AVX2,LOOSE"])
def test_an_mkl_branch_that_mkl_would_ignore_is_refused(value, capsys, tmp_path, monkeypatch):
    """MKL runs its AUTO branch, silently, for an ``MKL_CBWR`` it does not know ("COMPAT" for
    "COMPATIBLE"): a run made so would not be what its command says, so the entry point refuses it."""
    monkeypatch.setenv("MKL_CBWR", value)
    code, err = run_cli(["--run-dir", str(tmp_path / "run")], capsys)
    assert code == 2 and len(err.splitlines()) == 1
    assert f"MKL_CBWR={value!r} is not a value MKL knows" in err and "MKL_CBWR=COMPATIBLE" in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("value", ["COMPATIBLE", "AUTO", "avx2", "BRANCH=AVX512,STRICT", "SSE4_2", "AVX512_E1", ""])
def test_mkl_branches_mkl_knows_pass(value, monkeypatch):
    from prefrl.run_dir import check_numerics_environment

    monkeypatch.setenv("MKL_CBWR", value)
    check_numerics_environment()  # no error


ENTRY_POINTS = sorted(p.stem for p in Path(__file__).parents[1].joinpath("experiments").glob("*.py")
                      if "\ndef main(" in p.read_text())


def test_the_entry_points_are_found():
    assert {"mujoco", "backflip", "grasp", "sweep", "plot", "label", "compare", "horizon"} <= set(ENTRY_POINTS)


@pytest.mark.parametrize("module", ENTRY_POINTS)
def test_every_entry_point_prints_its_help(module, capsys):
    """``--help`` exits 0 with the usage line and the module docstring's whole first paragraph
    (argparse %-formats help strings, so a bare % in one crashes it)."""
    imported = importlib.import_module(f"experiments.{module}")
    with pytest.raises(SystemExit) as exit_info:
        imported.main(["--help"])
    assert exit_info.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert f"python -m experiments.{module}" in out
    assert cli.summary(imported.__doc__) in out


@pytest.mark.parametrize("module", ENTRY_POINTS)
def test_every_entry_point_refuses_bad_arguments_in_one_line(module, capsys):
    """An unknown flag (or, first, a missing positional argument) is one line on stderr, exit 2."""
    with pytest.raises(SystemExit) as exit_info:
        importlib.import_module(f"experiments.{module}").main(["--no-such-flag"])
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"python -m experiments.{module}: error: "), captured.err
    assert lines[0].endswith("(see --help)")
