import gymnasium as gym
import mujoco
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import envs
from envs.grasp import BALL_RADIUS, CAMERAS, EPISODE_STEPS, cameras, grasp_score, longest_run, project
from synthetic_oracle.grasp import back_project


@pytest.fixture
def env():
    env = gym.make(envs.env_id("Grasp"))
    yield env
    env.close()


def test_grasp_is_registered_and_passes_check_env(env):
    assert "Grasp" in envs.task_names()
    check_env(env.unwrapped, skip_render_check=True)


def test_reward_parts_sum_to_reward_facts_have_fixed_shapes_and_episode_has_fixed_length(env):
    env.reset(seed=0)
    env.action_space.seed(0)
    steps = 0
    while True:
        _, reward, terminated, truncated, info = env.step(env.action_space.sample())
        steps += 1
        parts = [info[k] for k in ("reward_reach", "reward_grasp", "reward_lift", "reward_success")]
        assert sum(parts) == pytest.approx(reward, abs=1e-12)
        assert not terminated
        for cam in CAMERAS:
            assert info[f"{cam}_hand_uv"].shape == (2,) and 0.0 <= info[f"{cam}_ball_visible"] <= 1.0
        assert info["hand_pos"].shape == info["ball_pos"].shape == (3,)
        if truncated:
            break
    assert steps == EPISODE_STEPS


def test_grasp_score_known_answers():
    parts = grasp_score(np.array([0.1, 0.0]), np.array([False, True]), np.array([0.3, 0.3]))
    np.testing.assert_allclose(parts["reward_reach"], [-0.2, 0.0])
    np.testing.assert_allclose(parts["reward_grasp"], [0.0, 0.5])
    np.testing.assert_allclose(parts["reward_lift"], [0.0, 1.4])  # lift only while grasped, capped at 7 cm
    np.testing.assert_allclose(parts["reward_success"], [0.0, 1.0])
    assert longest_run(np.array([1, 1, 0, 1, 1, 1, 0])) == 3 and longest_run(np.zeros(4)) == 0


def test_projection_back_projects_the_resting_ball_to_where_it_is(env):
    env.reset(seed=3)
    ball = env.unwrapped.ball_pos()
    for name, axis in (("judge", 1), ("side", 0)):
        cam = cameras()[name]
        uv = project(ball[None], cam)
        assert np.all(np.abs(uv) < 1), "the resting ball is in view"
        seen = back_project(uv, cam, axis)[0]
        # read in the plane through the origin: off by at most the ball's offset from it, scaled
        assert seen[2] == pytest.approx(BALL_RADIUS, abs=0.01)
        np.testing.assert_allclose(cam.ray(uv)[0] / np.linalg.norm(cam.ray(uv)[0]),
                                   (ball - cam.pos) / np.linalg.norm(ball - cam.pos), atol=1e-9)


def test_ball_visibility_from_an_occlusion_test(env):
    env.reset(seed=0)
    u = env.unwrapped
    qpos = u.data.qpos.copy()
    qpos[:3] = [0.0, 0.0, BALL_RADIUS]
    qpos[7:10] = [0.1, 0.1, 0.25]  # hand out of the way
    u.set_state(qpos, np.zeros(u.model.nv))
    facts = u.facts()
    assert facts["judge_ball_visible"] == 1.0 and facts["side_ball_visible"] == 1.0
    qpos[7:10] = [0.0, -0.1, 0.04]  # front plate right in front of the ball, low
    u.set_state(qpos, np.zeros(u.model.nv))
    mujoco.mj_forward(u.model, u.data)
    facts = u.facts()
    assert facts["judge_ball_visible"] == 0.0 and facts["side_ball_visible"] == 1.0


def test_grasp_camera_observes_only_the_hand_and_the_judge_cameras_view_of_the_ball():
    env = gym.make(envs.env_id("GraspCamera"))
    check_env(env.unwrapped, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (11,)
    env.action_space.seed(0)
    for _ in range(5):
        obs, _, _, _, info = env.step(env.action_space.sample())
        np.testing.assert_allclose(obs[:3], info["hand_pos"])
        assert obs[3] == pytest.approx(info["finger_gap"])
        np.testing.assert_allclose(obs[7:9], info["judge_ball_uv"])
        assert obs[9] == pytest.approx(info["judge_ball_visible"])
    # No depth: the ball moved along the judge camera's line of sight leaves the observation as it was.
    u = env.unwrapped
    cam = cameras()["judge"]
    before = u._get_obs()
    qpos = u.data.qpos.copy()
    ball = qpos[:3].copy()
    qpos[:3] = cam.pos + 1.1 * (ball - cam.pos)
    u.set_state(qpos, u.data.qvel.copy())
    np.testing.assert_allclose(u._get_obs()[7:9], before[7:9], atol=1e-9)
    assert not np.allclose(u.data.xpos[u._ball_body], ball)
    with pytest.raises(ValueError, match="observe"):
        gym.make("prefrl/Grasp-v0", observe="depth")
    env.close()


def test_grasp_camera_reward_gives_the_policy_the_state_and_its_reward_model_the_judge_cameras_view():
    from prefrl import agents

    names = ("Grasp", "GraspCamera", "GraspCameraReward", "GraspCamerasReward")
    made = {name: gym.make(envs.env_id(name)) for name in names}
    for name in names[2:]:
        check_env(made[name].unwrapped, skip_render_check=True)
    obs = {name: env.reset(seed=3)[0] for name, env in made.items()}
    actions = np.random.default_rng(0).uniform(-1, 1, (5, 4))
    one, two = agents.reward_obs("GraspCameraReward"), agents.reward_obs("GraspCamerasReward")
    for step in range(6):
        info = made["GraspCamerasReward"].unwrapped.facts()
        assert obs["GraspCameraReward"].shape == (22,) and obs["GraspCamerasReward"].shape == (25,)
        np.testing.assert_allclose(obs["GraspCameraReward"][:19], obs["Grasp"])  # the policy: full state
        np.testing.assert_allclose(obs["GraspCamerasReward"][:22], obs["GraspCameraReward"])
        np.testing.assert_allclose(obs["GraspCameraReward"][list(one)], obs["GraspCamera"])  # r_hat: the judge's view
        seen = obs["GraspCamerasReward"][list(two)]  # r_hat: both views, no ball depth or touch
        np.testing.assert_allclose(seen[:10], obs["GraspCamera"][:10])
        np.testing.assert_allclose(seen[10:13], [*info["side_ball_uv"], info["side_ball_visible"]])
        assert seen[13] == obs["GraspCamera"][10]
        if step < 5:
            obs = {name: env.step(actions[step])[0] for name, env in made.items()}
    assert agents.reward_obs("Grasp") is None and agents.reward_obs("GraspCamera") is None
    for env in made.values():
        env.close()
