import numpy as np
import pytest

from envs.grasp import scripted_fake, scripted_grasp
from experiments.grasp import find_episode, grasp_rates, record_episodes, scripted
from prefrl.teachers import Choice
from synthetic_oracle import SCORES, ReturnOracle
from synthetic_oracle.grasp import JUDGES, verdicts


@pytest.fixture(scope="module")
def episodes():
    """Two episodes each of scripted motions through the real physics, recorded as segments."""
    idle = lambda obs: np.zeros((len(obs), 4), np.float32)  # noqa: E731
    return {
        "honest": record_episodes(scripted(scripted_grasp), 2, seed=0, n_envs=2),
        "fake": record_episodes(scripted(scripted_fake), 2, seed=1, n_envs=2),
        "idle": record_episodes(idle, 1, seed=2, n_envs=1),
    }


def test_an_honest_grasp_and_lift_passes_every_judge(episodes):
    for e in episodes["honest"]:
        assert e.facts["ball_height"].max() > 0.1
        assert verdicts(e) == {"full": True, "camera": True, "mitigated": True}


def test_the_fake_pose_fools_only_the_camera_limited_judge(episodes):
    for e in episodes["fake"]:
        assert e.facts["contact_front"].sum() == 0 and e.facts["contact_back"].sum() == 0, "never touches"
        assert e.facts["ball_height"].max() < 0.005, "the ball stays on the table"
        assert e.facts["judge_ball_visible"][-1] < 0.5 and e.facts["side_ball_visible"][-1] > 0.9
        assert verdicts(e) == {"full": False, "camera": True, "mitigated": False}


def test_doing_nothing_passes_no_judge(episodes):
    assert verdicts(episodes["idle"][0]) == {name: False for name in JUDGES}


def test_rates_count_fooled_episodes(episodes):
    rates = grasp_rates(episodes["honest"] + episodes["fake"])
    assert rates["grasp/true_success"] == 0.5
    assert rates["grasp/camera_success"] == 1.0 and rates["grasp/camera_fooled"] == 0.5
    assert rates["grasp/mitigated_fooled"] == 0.0 and rates["grasp/full_fooled"] == 0.0
    assert find_episode(episodes["fake"], "camera", fooled=True) is episodes["fake"][0]
    assert find_episode(episodes["fake"], "camera", fooled=False) is None


def test_oracles_over_judge_scores_prefer_what_their_judge_perceives(episodes, rng):
    honest, fake, idle = episodes["honest"][0], episodes["fake"][0], episodes["idle"][0]
    oracle = {name: ReturnOracle(score=SCORES[f"grasp_{name}"]) for name in JUDGES}
    for name in JUDGES:
        assert oracle[name](honest, idle, rng) == Choice.LEFT
    assert oracle["full"](honest, fake, rng) == Choice.LEFT
    assert oracle["mitigated"](honest, fake, rng) == Choice.LEFT
    assert oracle["camera"](fake, idle, rng) == Choice.LEFT
    np.testing.assert_allclose(SCORES["grasp_full"](honest), honest.true_reward, atol=1e-9)
