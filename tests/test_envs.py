import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import envs
from envs.paper_tasks import TASKS


@pytest.mark.parametrize("task", list(TASKS))
def test_check_env_passes(task):
    env = gym.make(envs.env_id(task))
    check_env(env.unwrapped, skip_render_check=True)
    env.close()


@pytest.mark.parametrize("task", list(TASKS))
def test_reward_parts_sum_to_reward_and_no_control_cost(task):
    env = gym.make(envs.env_id(task))
    env.reset(seed=0)
    env.action_space.seed(0)
    for _ in range(200):
        _, reward, terminated, _, info = env.step(env.action_space.sample())
        parts = {k: v for k, v in info.items() if k.startswith("reward_")}
        assert parts, "the env reports its reward parts"
        assert sum(parts.values()) == pytest.approx(reward, abs=1e-9)
        assert info.get("reward_ctrl", 0.0) == 0.0 and info.get("reward_contact", 0.0) == 0.0
        assert not terminated
        assert info["qpos"].shape == env.unwrapped.data.qpos.shape
        if task in ("Hopper", "Walker2d", "HalfCheetah", "Ant"):
            assert info["height"] == info["qpos"][2 if task == "Ant" else 1]
        if task in ("Hopper", "Walker2d", "HalfCheetah"):
            assert info["upright"] == pytest.approx(np.cos(info["qpos"][2]))
        else:
            assert "upright" not in info
    env.close()


@pytest.mark.parametrize("task", ["Hopper", "Walker2d", "Ant"])
def test_falling_costs_height_reward_every_step_and_the_episode_goes_on(task):
    env = gym.make(envs.env_id(task))
    env.reset(seed=1)
    heights, steps, truncated = [], 0, False
    while not truncated:
        _, reward, terminated, truncated, info = env.step(np.ones(env.action_space.shape))
        steps += 1
        assert not terminated and info["reward_survive"] == 0.0
        assert info["reward_height"] == pytest.approx(info["height"] - TASKS[task].posture_height)
        heights.append(info["reward_height"])
    assert steps == env.spec.max_episode_steps
    if task != "Ant":  # a constant extreme action topples these: the body ends lower, earning less
        assert np.mean(heights[-100:]) < np.mean(heights[:5]) - 0.3
    env.close()


@pytest.mark.parametrize("task", ["InvertedPendulum", "InvertedDoublePendulum"])
def test_episode_has_fixed_length_and_falling_forfeits_survive_reward(task):
    env = gym.make(envs.env_id(task))
    env.reset(seed=1)
    steps, unhealthy = 0, []
    while True:
        # A constant extreme action topples these bodies quickly.
        _, _, terminated, truncated, info = env.step(np.ones(env.action_space.shape))
        steps += 1
        assert not terminated
        if not info["healthy"]:
            unhealthy.append(info["reward_survive"])
        if truncated:
            break
    assert steps == env.spec.max_episode_steps
    assert unhealthy and all(r == 0 for r in unhealthy), "an unhealthy step earns no survive bonus"
    env.close()


def test_unknown_env_name_says_which_exist():
    with pytest.raises(ValueError, match="unknown env 'Hoper'; known: Hopper, Walker2d"):
        envs.env_id("Hoper")


@pytest.mark.parametrize("task, seconds, steps", [
    ("Hopper", 0, 60), ("Walker2d", 0, 45), ("HalfCheetah", 0, 30), ("Ant", 0, 30), ("Swimmer", 0, 60),
    ("Reacher", 0, 15), ("InvertedPendulum", 0, 15),
    ("HopperBackflip", 0, 188),  # not a paper task: 1.5 s of simulated time (125 steps/s)
    ("Hopper", 0.4, 50), ("Hopper", 1.5, 188), ("Reacher", 60, 50),  # explicit seconds, at most one episode
])
def test_segment_length_defaults_to_the_papers_steps(task, seconds, steps):
    from prefrl.agents import segment_steps
    from prefrl.config import RunConfig

    assert segment_steps(RunConfig(env=task, segment_seconds=seconds)) == steps


@pytest.mark.parametrize("task, steps_per_second", [("InvertedPendulum", 25), ("InvertedDoublePendulum", 20)])
def test_a_pole_down_for_one_second_is_set_upright_again(task, steps_per_second):
    """Pushed over with a constant action, the pole stays down for exactly 1 s of steps (no
    survive bonus), then the state is reset upright and the balancing starts again."""
    env = gym.make(envs.env_id(task))
    env.reset(seed=2)
    down, respawns = 0, 0
    for _ in range(400):
        obs, reward, _, _, info = env.step(np.ones(env.action_space.shape))
        down = 0 if info["healthy"] else down + 1
        if info["respawned"]:
            respawns += 1
            assert down == steps_per_second and info["reward_survive"] == 0
            assert np.abs(info["qpos"]).max() <= 0.1  # gymnasium's reset noise around upright
            np.testing.assert_allclose(obs, env.unwrapped._get_obs())
            np.testing.assert_allclose(env.unwrapped.data.qpos, info["qpos"])
            down = 0
        assert down < steps_per_second
    assert respawns >= 1
    env.close()


@pytest.mark.parametrize("task", ["Reacher", "HopperBackflip"])
def test_vec_env_without_info_deepcopy_steps_like_sb3s(task):
    """``agents.InfoDummyVecEnv`` hands out what SB3's DummyVecEnv does, episode ends included,
    and later steps leave the infos already handed out as they were."""
    import copy

    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv

    from prefrl.agents import InfoDummyVecEnv

    make = [lambda: Monitor(gym.make(envs.env_id(task), max_episode_steps=30)) for _ in range(3)]
    ours, sb3 = InfoDummyVecEnv(make), DummyVecEnv(make)
    for venv in (ours, sb3):
        venv.seed(7)
    np.testing.assert_array_equal(ours.reset(), sb3.reset())
    actions = np.random.default_rng(0).uniform(-1, 1, size=(70, 3, *ours.action_space.shape))
    handed_out, ends = [], 0
    for a in actions:
        mine, theirs = ours.step(a), sb3.step(a)
        for x, y in zip(mine[:3], theirs[:3], strict=True):
            np.testing.assert_array_equal(x, y)
        for info, ref in zip(mine[3], theirs[3], strict=True):
            assert info.keys() == ref.keys()
            for k in ref.keys() - {"episode"}:
                np.testing.assert_array_equal(info[k], ref[k])
            if "episode" in ref:  # Monitor's episode summary; "t" is wall-clock time
                assert (info["episode"]["r"], info["episode"]["l"]) == (ref["episode"]["r"], ref["episode"]["l"])
            ends += "terminal_observation" in info
        handed_out.append((mine[3], copy.deepcopy(mine[3])))
    for infos, then in handed_out:
        for info, was in zip(infos, then, strict=True):
            assert info.keys() == was.keys()
            for k in was:
                np.testing.assert_array_equal(info[k], was[k])
    assert ends == 2 * 3  # two episode ends in each env


def test_a_cheetah_on_its_back_reports_upright_below_zero():
    env = gym.make("prefrl/HalfCheetah-v0")
    env.reset(seed=0)
    data = env.unwrapped.data
    qpos, qvel = data.qpos.copy(), data.qvel.copy()
    qpos[1], qpos[2] = 0.5, np.pi  # lifted, turned over
    env.unwrapped.set_state(qpos, qvel)
    for _ in range(20):
        *_, info = env.step(np.zeros(env.action_space.shape))
    assert info["upright"] < -0.9
    env.close()


def test_gymnasiums_half_cheetah_asset_warning_is_dropped_and_others_still_pass(capfd, tmp_path, monkeypatch):
    """half_cheetah.xml's deprecated settotalmass warned on stderr and in MUJOCO_LOG.TXT at every build; the
    attribute still applies (total mass 14), and any other MuJoCo warning is still printed and logged."""
    import mujoco

    from envs import paper_tasks

    monkeypatch.chdir(tmp_path)  # where MuJoCo's default handler writes MUJOCO_LOG.TXT
    env = gym.make("prefrl/HalfCheetah-v0")
    assert env.unwrapped.model.body_mass.sum() == pytest.approx(14.0)
    env.close()
    assert "settotalmass" not in capfd.readouterr().err
    assert not (tmp_path / "MUJOCO_LOG.TXT").exists()
    assert mujoco.get_mju_user_warning() is None  # MuJoCo's own handler is back
    with paper_tasks._without_asset_deprecation():
        mujoco.get_mju_user_warning()("some other warning")
    assert "WARNING: some other warning" in capfd.readouterr().err
    assert "some other warning" in (tmp_path / "MUJOCO_LOG.TXT").read_text()
