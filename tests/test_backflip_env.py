"""prefrl/HopperBackflip-v0: a fixed-length episode that a flip does not end, facts in info."""

import gymnasium as gym
import numpy as np
from gymnasium.utils.env_checker import check_env

import envs
from envs.backflip import EPISODE_STEPS


def test_registered_as_a_task():
    assert "HopperBackflip" in envs.task_names()
    assert envs.env_id("HopperBackflip") == "prefrl/HopperBackflip-v0"


def test_check_env():
    env = gym.make("prefrl/HopperBackflip-v0")
    check_env(env.unwrapped, skip_render_check=True)
    env.close()


def test_info_holds_physical_facts_and_a_tilt_does_not_end_the_episode():
    env = gym.make("prefrl/HopperBackflip-v0")
    obs, info = env.reset(seed=0)
    assert abs(info["height"] - 1.25) < 0.02 and abs(info["pitch"]) < 0.02
    u = env.unwrapped
    qpos = u.data.qpos.copy()
    qpos[2] = -3.0  # upside down: pitch is not wrapped and the episode goes on
    u.set_state(qpos, u.data.qvel.copy())
    steps, terminated, truncated = 0, False, False
    while not (terminated or truncated):
        obs, reward, terminated, truncated, info = env.step(np.zeros(3))
        steps += 1
        if steps == 10:
            assert info["contact_foot"] == 0.0 or info["airborne"] == 0.0
    assert not terminated and steps == EPISODE_STEPS
    assert obs.shape == (16,) and np.all(np.isfinite(obs))
    expected = {"pitch", "pitch_rate", "body_pitch", "height", "contact_torso", "contact_thigh", "contact_leg",
                "contact_foot", "airborne", "qpos", "qvel"}
    assert set(info) == expected
    assert info["contact_torso"] + info["contact_thigh"] >= 1.0  # it fell on its back
    assert list(obs[12:]) == [info[f"contact_{p}"] for p in ("torso", "thigh", "leg", "foot")]  # seen
    env.close()


def test_obs_does_not_see_the_accumulated_pitch():
    env = gym.make("prefrl/HopperBackflip-v0")
    env.reset(seed=0)
    u = env.unwrapped
    before = u._get_obs()
    qpos = u.data.qpos.copy()
    qpos[2] -= 2 * np.pi
    u.set_state(qpos, u.data.qvel.copy())
    np.testing.assert_allclose(u._get_obs(), before, atol=1e-9)
    env.close()


def test_launch_curriculum_resets():
    from envs.backflip import LAUNCH_SPIN, LAUNCH_UP

    env = gym.make("prefrl/HopperBackflip-v0")
    u = env.unwrapped
    standing = env.reset(seed=3)[0]
    assert not u.launched and abs(u.data.qvel[1]) < 0.1  # off by default: the standard start
    u.launch_share = 1.0
    for seed in range(5):
        obs, info = env.reset(seed=seed)
        assert u.launched
        assert 0 <= u.data.qvel[1] <= LAUNCH_UP[1] and LAUNCH_SPIN[0] <= u.data.qvel[2] <= 0
        up, spin = u.data.qvel[1], -u.data.qvel[2]  # one strength scales both: their ranges of it overlap
        assert max(up / LAUNCH_UP[1], spin / -LAUNCH_SPIN[0]) <= min(up / LAUNCH_UP[0], spin / -LAUNCH_SPIN[1]) + 1e-12
        assert obs[3 + 3 + 1] == u.data.qvel[1]  # the observation shows the launch
        assert abs(info["pitch"]) < 0.02  # it starts standing, then takes off
    u.launch_share = 0.0
    assert np.array_equal(env.reset(seed=3)[0], standing) and not u.launched
    env.close()


def test_motion_history_reads_the_last_seconds_of_the_same_physics():
    from envs.backflip import HISTORY_DIM, HISTORY_LAGS, HISTORY_WINDOW

    assert envs.env_id("HopperBackflipHistory") == "prefrl/HopperBackflipHistory-v0"
    plain, hist = gym.make("prefrl/HopperBackflip-v0"), gym.make("prefrl/HopperBackflipHistory-v0")
    check_env(hist.unwrapped, skip_render_check=True)
    for env in (plain, hist):
        env.unwrapped.launch_share = 1.0  # launched upwards with a backward spin
    obs_p, _ = plain.reset(seed=4)
    obs_h, info = hist.reset(seed=4)
    assert obs_h.shape == (16 + HISTORY_DIM,) and hist.observation_space.shape == obs_h.shape
    np.testing.assert_array_equal(obs_h[:16], obs_p)  # the same state, more facts about its past
    np.testing.assert_array_equal(obs_h[16:20], 0.0)  # held still before the reset: nothing turned yet
    # the rows the history reads, before the reset: the reset state, held still
    rows = [(info["pitch"], info["height"], info["airborne"], 0.0)] * (max(HISTORY_LAGS) + 1)
    rng = np.random.default_rng(0)
    for _ in range(250):
        action = rng.uniform(-1, 1, 3)
        obs_p, *_ = plain.step(action)
        obs_h, _, _, _, info = hist.step(action)
        np.testing.assert_array_equal(obs_h[:16], obs_p)  # the history does not change the physics
        rows.append((info["pitch"], info["height"], info["airborne"],
                     float(info["contact_torso"] + info["contact_thigh"] > 0)))
        pitch, height, airborne, floor = np.array(rows).T
        turned = [pitch[-1] - pitch[-1 - lag] for lag in HISTORY_LAGS]
        np.testing.assert_allclose(obs_h[16:20], turned, atol=1e-12)
        last = slice(-HISTORY_WINDOW, None)
        np.testing.assert_allclose(obs_h[20:], [height[last].max(), airborne[last].mean(), floor[last].mean()],
                                   atol=1e-12)
    assert pitch.min() < -1.0  # it turned backwards: the checks above saw real rotation
    for env in (plain, hist):
        env.close()
