"""The state-entropy exploration reward (prefrl.explore) against its formula."""

import numpy as np

from prefrl.explore import StateEntropyReward


def test_the_raw_reward_is_log1p_of_the_kth_nearest_distance_in_standardised_units():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(50, 3)) * np.array([1.0, 10.0, 0.1])
    explorer = StateEntropyReward(3, k=4, capacity=100)
    explorer.add(ref)
    query = rng.normal(size=(6, 3))
    ref32 = ref.astype(np.float32).astype(np.float64)
    scale = ref32.std(axis=0, ddof=1) + 1e-6  # torch's std: unbiased
    dist = np.linalg.norm((query[:, None, :] - ref32[None]) / scale, axis=2)
    expected = np.log1p(np.sort(dist, axis=1)[:, 3])
    np.testing.assert_allclose(explorer.raw(query), expected, rtol=1e-4)


def test_a_state_far_from_the_recent_ones_pays_more_and_the_set_is_the_latest_states():
    explorer = StateEntropyReward(2, k=2, capacity=8)
    assert explorer(np.zeros((2, 2))).tolist() == [0.0, 0.0]  # too few reference states yet
    explorer.add(np.arange(12, dtype=float).reshape(6, 2) / 10)
    near, far = explorer.raw(np.array([[0.3, 0.4], [30.0, 40.0]]))
    assert far > near > 0
    explorer.add(np.full((8, 2), 5.0) + np.arange(16).reshape(8, 2) / 100)
    assert explorer.size == 8 and explorer.states.min() >= 5.0  # the oldest states made room


def test_the_paid_reward_is_divided_by_the_spread_of_every_raw_reward_so_far():
    rng = np.random.default_rng(1)
    explorer, twin = StateEntropyReward(4, k=3), StateEntropyReward(4, k=3)
    raws = []
    for i in range(40):
        states = rng.normal(size=(8, 4)) * 100
        raw = twin.raw(states)
        twin.add(states)
        paid = explorer(states)
        if i == 0:
            assert paid.tolist() == [0.0] * 8  # no reference states before the first batch
            continue
        raws.append(raw)
        np.testing.assert_allclose(paid, raw / np.std(np.concatenate(raws)), rtol=1e-9)
