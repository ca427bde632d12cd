import dataclasses

import numpy as np
import pytest

from envs.grasp import scripted_fake, scripted_grasp
from experiments.grasp import find_episode, grasp_rates, record_episodes, scripted
from prefrl.teachers import Choice
from synthetic_oracle import SCORES, ReturnOracle
from synthetic_oracle.grasp import JUDGES, camera_view, full_state, mitigated, verdicts

CARRY_TO = np.array([-0.12, 0.1, 0.15])  # toward the side camera and away from the judge's (m)


def grasp_and_carry(obs: np.ndarray) -> np.ndarray:
    """An honest grasp, then the ball carried to CARRY_TO, off the planes the cameras' images are read in."""
    if obs[16] * obs[17] and obs[6] > 0.05:  # both plates touch the ball and it is up
        return np.append(np.clip((CARRY_TO - obs[0:3]) / 0.03, -1, 1), -1.0).astype(np.float32)
    return scripted_grasp(obs)


@pytest.fixture(scope="module")
def episodes():
    """Two episodes each of scripted motions through the real physics, recorded as segments."""
    idle = lambda obs: np.zeros((len(obs), 4), np.float32)  # noqa: E731
    return {
        "honest": record_episodes(scripted(scripted_grasp), 2, seed=0, n_envs=2),
        "fake": record_episodes(scripted(scripted_fake), 2, seed=1, n_envs=2),
        "idle": record_episodes(idle, 1, seed=2, n_envs=1),
        "carried": record_episodes(scripted(grasp_and_carry), 1, seed=3, n_envs=1),
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


def test_the_mitigated_judge_triangulates_a_ball_carried_off_the_image_planes(episodes):
    """Two views at a right angle place the ball in 3-D wherever it is carried; one view, read in a
    fixed plane, misjudges its height there."""
    e = episodes["carried"][0]
    end = e.facts["ball_pos"][-1]
    assert np.linalg.norm(end[:2] - CARRY_TO[:2]) < 0.02 and e.facts["ball_height"][-1] > 0.08, "carried and held"
    assert verdicts(e)["full"] and verdicts(e)["mitigated"]
    assert np.mean(mitigated(e).success == full_state(e).success) > 0.85
    visible = (e.facts["judge_ball_visible"] >= 0.5) & (e.facts["side_ball_visible"] >= 0.5)
    carried = e.facts["ball_pos"][:, 0] < -0.1
    assert (visible & carried).sum() > 5
    assert np.abs(mitigated(e).lift - e.facts["ball_height"])[visible].max() < 0.005
    assert np.abs(camera_view(e, "side").lift - e.facts["ball_height"])[visible & carried].max() > 0.02


def _hidden_in_both(e, start: int, stop: int | None = None):
    """The same episode, but from step ``start`` to ``stop`` neither camera sees the ball (as when the
    hand and plates cover it from both sides)."""
    facts = dict(e.facts)
    for cam in ("judge", "side"):
        visible = facts[f"{cam}_ball_visible"].copy()
        visible[start:stop] = 0.0
        facts[f"{cam}_ball_visible"] = visible
    return dataclasses.replace(e, facts=facts)


def test_a_ball_hidden_from_both_cameras_is_where_the_mitigated_judge_last_located_it(episodes):
    """Held when last seen: it is carried at the same offset from the hand (the lift stays right,
    not the ~3 cm too high the hand's centre would give). Not held: it stays where it was."""
    e = episodes["carried"][0]
    lifted = np.flatnonzero(full_state(e).success)[0]  # held and up when it disappears
    hidden = _hidden_in_both(e, lifted, lifted + 12)  # carried; it slips ~0.5 mm per step in the grip
    err = np.abs(mitigated(hidden).lift - e.facts["ball_height"])[lifted: lifted + 12]
    assert err.max() < 0.01 and verdicts(hidden)["mitigated"]
    far = np.linalg.norm(e.facts["hand_pos"] - e.facts["ball_pos"], axis=1) > 0.1
    start = np.flatnonzero(far[1:])[0] + 1  # seen at first, then hidden while on the table, far from the hand
    unseen = _hidden_in_both(e, start)
    assert np.abs(mitigated(unseen).lift).max() < 0.01 and not verdicts(unseen)["mitigated"]
