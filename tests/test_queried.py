"""experiments.queried: the share of queried clip steps with the body down, by stage of a run."""

import json

import numpy as np
import pytest

from experiments import queried
from prefrl.config import ConfigError
from prefrl.segments import Segment
from prefrl.store import LabelStore


def clip(down_steps: int, reward: float, t: int = 4) -> Segment:
    healthy = np.ones(t)
    healthy[:down_steps] = 0.0
    facts = {"healthy": healthy, "height": 1.2 - 0.4 * (1 - healthy), "upright": 2 * healthy - 1}  # down: low, upside down
    return Segment(np.zeros((t, 3), np.float32), np.zeros((t, 1), np.float32), np.full(t, reward),
                   np.zeros((t, 2)), np.zeros((t, 2)), facts=facts, env_steps=0)


def make_run(root, name, queries, steps=400, finished=True):
    run = root / "runs" / name
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"env": "Hopper", "steps": steps}))
    if finished:
        (run / "summary.json").write_text("{}")
    store = LabelStore(run / "labels.sqlite")
    for env_steps, left, right, *choice in queries:
        q = store.add_query(left, right, env_steps=env_steps, selector="uniform")
        store.add_label(q.id, "oracle", choice[0] if choice else "left")
    store.add_query(clip(4, 0.0), clip(4, 0.0), env_steps=0, selector="uniform")  # never answered: not counted
    store.close()
    return run


def test_stages_split_pretraining_and_quarters_of_the_run():
    config = {"steps": 400}
    assert [queried.stage(s, config) for s in (0, 1, 100, 101, 300, 301, 400)] == [0, 1, 1, 2, 3, 4, 4]


def test_report_counts_down_steps_pairs_and_rewards_per_stage_and_arm(tmp_path, capsys):
    make_run(tmp_path, "Hopper_700_s0", [(0, clip(4, 0.0), clip(3, 1.0)),   # both mostly down
                                         (0, clip(4, 0.0), clip(0, 1.0)),   # one down
                                         (350, clip(0, 2.0), clip(1, 4.0), "right")])
    # equal true returns: no left/right answer to check; a skip is undecided
    make_run(tmp_path, "Hopper_700_s1", [(0, clip(0, 1.0), clip(0, 1.0)), (0, clip(0, 1.0), clip(0, 2.0), "skip")])
    make_run(tmp_path, "Hopper_700_s2", [(0, clip(4, 0.0), clip(4, 0.0))], finished=False)  # still running
    assert queried.main([str(tmp_path)]) == 0
    out = json.loads((tmp_path / "queried.json").read_text())
    assert sorted(out["runs"]) == ["Hopper_700_s0", "Hopper_700_s1"]
    pre, last = out["runs"]["Hopper_700_s0"]
    # both pretraining answers picked the clip with the smaller true return; the last one the larger
    assert pre == {"stage": "pretraining", "labels": 2, "down_share": pytest.approx(11 / 16),
                   "both_down": 0.5, "true_reward_per_step": 0.5, "gap_per_step": 1.0, "undecided": 0.0, "agrees_with_true_reward": 0.0,
                   "height": pytest.approx(1.2 - 0.4 * 11 / 16), "upside_down": pytest.approx(11 / 16)}
    assert last == {"stage": "4th quarter", "labels": 1, "down_share": pytest.approx(1 / 8),
                    "both_down": 0.0, "true_reward_per_step": 3.0, "gap_per_step": 2.0, "undecided": 0.0, "agrees_with_true_reward": 1.0,
                   "height": pytest.approx(1.2 - 0.4 / 8), "upside_down": pytest.approx(1 / 8)}
    arm = out["arms"]["Hopper_700"]
    assert arm["seeds"] == 2
    assert arm["stages"]["pretraining"]["down_share"] == pytest.approx((11 / 16 + 0) / 2)
    assert arm["stages"]["4th quarter"]["labels"] == 1.0  # only seed 0 asked then
    s1 = out["runs"]["Hopper_700_s1"][0]
    assert s1["undecided"] == 0.5 and np.isnan(s1["agrees_with_true_reward"])
    # seed 1 had no answer to check: the arm's agreement is seed 0's
    assert arm["stages"]["pretraining"]["agrees_with_true_reward"] == 0.0
    assert ("Hopper_700_s0: pretraining 69% down (50% both) height 0.92 69% upside down, 0% of answers as the "
            "true reward; 4th quarter 12% down (0% both) height 1.15 12% upside down, 100% of answers as the "
            "true reward") in capsys.readouterr().out


def test_a_folder_without_label_stores_is_a_clear_error(tmp_path):
    (tmp_path / "runs" / "Hopper_true_s0").mkdir(parents=True)
    (tmp_path / "runs" / "Hopper_true_s0" / "config.json").write_text(json.dumps({"steps": 10}))
    with pytest.raises(ConfigError, match="no finished run with a labels.sqlite"):
        queried.main([str(tmp_path)])
    with pytest.raises(ConfigError, match="has no runs/ folder"):
        queried.main([str(tmp_path / "runs")])
    assert not (tmp_path / "queried.json").exists()
