import math

import numpy as np
import pytest

from prefrl.segments import Segment
from prefrl.teachers import Choice
from synthetic_oracle import ReturnOracle
from synthetic_oracle.basic import myopic_return


def seg(rewards) -> Segment:
    r = np.asarray(rewards, dtype=np.float64)
    t = len(r)
    return Segment(np.zeros((t, 2)), np.zeros((t, 1)), r, np.zeros((t, 1)), np.zeros((t, 1)))


def frequency(oracle, left, right, n=4000, seed=0):
    rng = np.random.default_rng(seed)
    answers = [oracle(left, right, rng) for _ in range(n)]
    return {c: answers.count(c) / n for c in Choice}


def test_perfect_oracle_prefers_larger_return_and_ties_are_equal(rng):
    oracle = ReturnOracle()
    assert oracle(seg([1, 2]), seg([1, 1]), rng) is Choice.LEFT
    assert oracle(seg([0, 0]), seg([0, 1]), rng) is Choice.RIGHT
    assert oracle(seg([1, 1]), seg([2, 0]), rng) is Choice.EQUAL


def test_boltzmann_matches_sigmoid_of_beta_times_return_gap():
    beta, left, right = 0.5, seg([1.0, 1.0]), seg([0.5, 0.5])  # gap 1.0
    p = frequency(ReturnOracle(beta=beta), left, right)[Choice.LEFT]
    assert p == pytest.approx(1 / (1 + math.exp(-beta * 1.0)), abs=0.02)


def test_mistake_rate_flips_that_share_of_answers():
    p = frequency(ReturnOracle(epsilon=0.1), seg([2.0]), seg([1.0]))[Choice.RIGHT]
    assert p == pytest.approx(0.1, abs=0.015)


def test_myopic_oracle_weighs_the_end_of_the_clip_more(rng):
    early, late = seg([1.0, 0, 0, 0]), seg([0, 0, 0, 0.9])
    assert ReturnOracle()(early, late, rng) is Choice.LEFT
    assert ReturnOracle(gamma=0.5)(early, late, rng) is Choice.RIGHT
    assert myopic_return(np.array([1.0, 0, 0, 0]), 0.5) == 0.125


def test_skip_and_equal_thresholds(rng):
    assert ReturnOracle(skip_threshold=1.0)(seg([0.5]), seg([0.9]), rng) is Choice.SKIP
    assert ReturnOracle(skip_threshold=1.0)(seg([0.5]), seg([1.1]), rng) is Choice.RIGHT
    assert ReturnOracle(equal_threshold=0.3)(seg([1.0]), seg([1.2]), rng) is Choice.EQUAL
    assert ReturnOracle(equal_threshold=0.3)(seg([1.0]), seg([1.4]), rng) is Choice.RIGHT


def test_same_seed_same_answers():
    oracle, pairs = ReturnOracle(beta=1.0, epsilon=0.2), [(seg([i * 0.1]), seg([0.3])) for i in range(50)]
    a = [oracle(x, y, np.random.default_rng(7)) for x, y in pairs]
    b = [oracle(x, y, np.random.default_rng(7)) for x, y in pairs]
    assert a == b


@pytest.mark.parametrize("knobs", [{"beta": 0}, {"gamma": 1.5}, {"epsilon": -0.1}, {"equal_threshold": -1}])
def test_bad_knobs_are_refused(knobs):
    with pytest.raises(ValueError, match="oracle knobs out of range"):
        ReturnOracle(**knobs)


def test_height_biased_teacher_prefers_a_taller_torso_at_equal_true_return(rng):
    from synthetic_oracle import SCORES

    tall, short = seg([1.0, 1.0]), seg([1.0, 1.0])
    tall = Segment(tall.obs, tall.actions, tall.true_reward, tall.qpos, tall.qvel, {"height": np.array([1.3, 1.3])})
    short = Segment(short.obs, short.actions, short.true_reward, short.qpos, short.qvel, {"height": np.array([1.0, 1.0])})
    oracle = ReturnOracle(score=SCORES["height_biased"])
    assert oracle(short, tall, rng) is Choice.RIGHT
    assert ReturnOracle()(short, tall, rng) is Choice.EQUAL
    with pytest.raises(ValueError, match="needs info\\['height'\\]"):
        oracle(seg([1.0]), seg([2.0]), rng)
