"""The backflip counter and score, on scripted motions driven through the real physics."""

import math

import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401  (registers the env)
from prefrl.segments import Segment
from prefrl.teachers import Choice
from synthetic_oracle import SCORES, ReturnOracle
from synthetic_oracle.backflip import (
    FACTS,
    HOLD_STEPS,
    BackflipTracker,
    BackflipWeights,
    backflip_score,
    count_flips,
    track,
)


def _stand(u) -> np.ndarray:
    """PD control holding the joints straight."""
    return np.clip(-5.0 * u.data.qpos[3:] - 0.5 * u.data.qvel[3:], -1, 1)


def rollout(policy, steps=375, seed=0, launch=None, qpos_change=None) -> Segment:
    """An episode of prefrl/HopperBackflip-v0 recorded as a Segment (facts from info)."""
    env = gym.make("prefrl/HopperBackflip-v0")
    obs, _ = env.reset(seed=seed)
    u = env.unwrapped
    qpos, qvel = u.data.qpos.copy(), u.data.qvel.copy()
    if launch is not None:
        qvel[1], qvel[2] = launch  # (upward m/s, pitch rate rad/s)
    if qpos_change is not None:
        qpos_change(qpos)
    u.set_state(qpos, qvel)
    rows = {"obs": [], "actions": [], "true_reward": [], "qpos": [], "qvel": []}
    facts: dict[str, list] = {}
    for t in range(steps):
        action = policy(t, u)
        rows["obs"].append(obs)
        rows["actions"].append(action)
        obs, reward, _, _, info = env.step(action)
        rows["true_reward"].append(reward)
        rows["qpos"].append(info["qpos"])
        rows["qvel"].append(info["qvel"])
        for k in FACTS:
            facts.setdefault(k, []).append(info[k])
    env.close()
    return Segment(**{k: np.asarray(v) for k, v in rows.items()},
                   facts={k: np.asarray(v) for k, v in facts.items()})


@pytest.fixture(scope="module")
def clean_flip() -> Segment:
    return rollout(lambda t, u: _stand(u), launch=(5.5, -5.5))


@pytest.fixture(scope="module")
def standing() -> Segment:
    return rollout(lambda t, u: _stand(u))


def test_launched_clean_flip_counts_one(clean_flip):
    assert count_flips(clean_flip).backflips == 1
    assert count_flips(clean_flip).falls == 0
    assert clean_flip.facts["pitch"].min() < -2 * math.pi + 0.5


def test_env_reward_is_the_score_of_the_whole_episode(clean_flip):
    np.testing.assert_allclose(backflip_score(clean_flip), clean_flip.true_reward)


def test_a_flip_is_worth_much_more_than_partial_rotation(clean_flip):
    short = rollout(lambda t, u: _stand(u), launch=(4.0, -5.0))  # lands on its back
    assert count_flips(short).backflips == 0 and count_flips(short).falls == 1
    assert backflip_score(clean_flip).sum() > 3 * backflip_score(short).sum()


def test_flip_landing_on_the_back_counts_zero():
    over = rollout(lambda t, u: _stand(u), launch=(5.5, -7.0))  # over-rotates past upright
    count = count_flips(over)
    assert count.backflips == 0 and count.falls == 1


def test_random_rollouts_count_zero():
    for seed in range(3):
        actions = np.random.default_rng(seed).uniform(-1, 1, (375, 3))
        seg = rollout(lambda t, u, actions=actions: actions[t], seed=seed)
        assert count_flips(seg).backflips == 0
        assert backflip_score(seg).sum() < 5.0


def test_rolling_on_the_ground_scores_below_standing_still(standing):
    def lie_on_back(qpos):
        qpos[1], qpos[2] = 0.3, -1.57  # torso low, rotated onto its back

    def roll(t, u):
        u.data.qvel[2] = -4.0  # keep it rolling backwards on the floor
        return np.zeros(3)

    rolling = rollout(roll, steps=200, qpos_change=lie_on_back)
    facts = rolling.facts
    assert (facts["contact_torso"] + facts["contact_thigh"]).mean() > 0.3
    assert facts["pitch"][-1] < -2 * np.pi  # it rolled over at least once
    assert count_flips(rolling).backflips == 0
    assert backflip_score(rolling).sum() < backflip_score(standing).sum() == 0.0


def test_wobble_nets_zero():
    tracker = BackflipTracker()
    pitches = 0.45 * np.sin(np.arange(1000) / 10.0)  # rocking within the upright band
    total = sum(tracker.step(p, p, 1.2, False, True, False) for p in pitches)
    assert total == 0.0


def test_rocking_past_the_band_pays_only_once():
    tracker = BackflipTracker()
    pitches = -0.9 * np.abs(np.sin(np.arange(2000) / 20.0))  # lean back 0.9 rad, up, again ...
    scores = [tracker.step(p, p, 1.2, False, True, False) for p in pitches]
    assert sum(scores) == pytest.approx(0.4, abs=1e-3)


def test_forward_flip_is_counted_separately():
    # Pitch goes up by 2*pi in the air, with stances before and after.
    pitch = np.concatenate([np.zeros(HOLD_STEPS + 5), np.linspace(0, 2 * np.pi, 100), np.full(40, 2 * np.pi)])
    airborne = np.zeros_like(pitch)
    airborne[HOLD_STEPS + 10: HOLD_STEPS + 100] = 1
    facts = {"pitch": pitch, "body_pitch": pitch, "height": np.full_like(pitch, 1.2), "contact_torso": 0 * pitch,
             "contact_thigh": 0 * pitch, "contact_leg": 0 * pitch, "contact_foot": 1 - airborne,
             "airborne": airborne}
    scores, count = track(facts)
    assert (count.backflips, count.forward_flips) == (0, 1)
    assert scores.sum() == 0.0


def test_folding_at_the_hip_while_standing_earns_nothing():
    def fold(t, u):  # bend the hip fully: the torso pitches back ~2.6 rad, the foot stays down
        return np.array([-1.0, 0.0, 0.0])

    folded = rollout(fold, steps=100)
    assert folded.facts["pitch"].min() < -1.5
    assert backflip_score(folded).sum() < 0.5


def test_oracle_prefers_the_flip(clean_flip, standing, rng):
    assert SCORES["backflip"] is backflip_score
    oracle = ReturnOracle(score=backflip_score)
    assert oracle(clean_flip, standing, rng) == Choice.LEFT


def test_a_fall_refund_takes_back_the_attempts_rotation():
    """With ``fall_refund`` 1 a backward fall from standing earns nothing for its rotation (it
    costs only its floor rotation); the default keeps the pay."""
    pitch = np.concatenate([np.zeros(HOLD_STEPS + 5), np.linspace(0, -1.5, 30), np.full(20, -1.5)])
    body = np.zeros_like(pitch)
    body[-20:] = 1  # lands on its back and lies there
    facts = {"pitch": pitch, "body_pitch": pitch, "height": np.full_like(pitch, 1.2), "contact_torso": body,
             "contact_thigh": 0 * pitch, "contact_leg": 0 * pitch, "contact_foot": 1 - body, "airborne": 0 * pitch}
    kept = track(facts)[0].sum()
    refunded = track(facts, BackflipWeights(fall_refund=1.0))[0].sum()
    assert kept == pytest.approx(1.5 - 0.5)  # rotation beyond the upright band
    assert refunded == pytest.approx(0.0)
