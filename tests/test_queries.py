import numpy as np
import pytest

from prefrl.queries import labels_due, pretrain_labels, select_pairs


def test_schedule_starts_with_a_quarter_and_ends_with_the_budget():
    assert pretrain_labels(700) == 175
    assert labels_due(0, 1_000_000, 700) == 175
    assert labels_due(1_000_000, 1_000_000, 700) == 700
    assert labels_due(5_000_000, 1_000_000, 700) == 700


def test_schedule_rate_decays_as_2e6_over_t_plus_2e6():
    total, budget = 10_000_000, 100_000
    due = [labels_due(t, total, budget) for t in range(0, total + 1, 1_000_000)]
    assert due == sorted(due)
    rates = np.diff(due)
    # Rate ratio between the first and last million steps ~ (2e6 + 9.5e6) / (2e6 + 0.5e6) = 4.6.
    assert rates[0] / rates[-1] == pytest.approx(4.6, rel=0.05)


def test_uniform_selection_never_asks_the_model(rng):
    feats = (np.zeros((30, 5, 2)), np.zeros((30, 5, 2)))

    def boom(*_):
        raise AssertionError("uniform must not call the ensemble")

    picked = select_pairs(10, 30, "uniform", boom, feats, rng)
    assert len(set(picked.tolist())) == 10


def sides(left_returns, right_returns, feats):
    """A member_returns callable answering each side of the candidate pairs with the returns given."""
    return lambda segments: left_returns if segments is feats[0] else right_returns


def test_disagreement_keeps_the_pairs_the_members_disagree_on(rng):
    feats = (np.zeros((6, 5, 2)), np.zeros((6, 5, 2)))
    logits = np.array([[0, 5, 0, -4, 0, 1], [0, -5, 0, 4, 0, 1], [0, 0, 0, 0, 0, 1.0]])
    picked = select_pairs(2, 6, "disagreement", sides(logits, 0 * logits, feats), feats, rng)
    assert sorted(picked.tolist()) == [1, 3]


def test_unknown_selector_is_named(rng):
    with pytest.raises(ValueError, match="unknown query selector 'best'; known: uniform, disagreement"):
        select_pairs(1, 2, "best", None, (np.zeros((2, 1, 1)),) * 2, rng)


def test_entropy_keeps_the_pairs_the_ensemble_is_least_sure_of(rng):
    feats = (np.zeros((4, 5, 2)), np.zeros((4, 5, 2)))
    logits = np.array([[6.0, 0.1, -5.0, 2.0], [6.0, -0.1, -5.0, 2.0]])
    picked = select_pairs(2, 4, "entropy", sides(2 + logits, 2 + 0 * logits, feats), feats, rng)
    assert picked.tolist() == [1, 3]


def test_entropy_still_ranks_pairs_the_members_are_nearly_sure_of(rng):
    # 60-step returns often differ by tens: in float32 every such pair's mean preference rounds to 1
    # and a clipped entropy read 0 * log(0) = nan for all of them, leaving the pick to index order.
    feats = (np.zeros((5, 5, 2)), np.zeros((5, 5, 2)))
    logits = np.array([[40.0, 25.0, -60.0, 30.0, 90.0], [42.0, 24.0, -70.0, 31.0, 95.0]], dtype=np.float32)
    with np.errstate(all="raise"):  # no log of 0, no nan
        picked = select_pairs(2, 5, "entropy", sides(logits, 0 * logits, feats), feats, rng)
    assert picked.tolist() == [1, 3]  # the two least sure of (|logit| ~25 and ~30)


def test_kcenter_spreads_queries_over_distinct_behaviours(rng):
    # Three tight clusters of candidate pairs: three queries must hit all three.
    centres = np.array([0.0, 10.0, 20.0])
    left = (centres[np.arange(30) % 3][:, None, None] + 0.01 * rng.normal(size=(30, 5, 2)))
    picked = select_pairs(3, 30, "kcenter", None, (left, left.copy()), rng)
    assert sorted(np.arange(30)[picked] % 3) == [0, 1, 2]


def test_optimistic_keeps_the_pairs_whose_segments_the_members_rate_best_or_least_agree_on(rng):
    feats = (np.zeros((4, 5, 2)), np.zeros((4, 5, 2)))
    # Members' returns (M=2, C=4). Pair 0: both sides rated high. Pair 1: both low. Pair 2: low
    # means but members far apart on the left (upper bound 1 + 4 = 5). Pair 3: one high, one low.
    left = np.array([[3.0, -1.0, 5.0, 3.0], [3.0, -1.0, -3.0, 3.0]])
    right = np.array([[3.0, -1.0, 0.0, -3.0], [3.0, -1.0, 0.0, -3.0]])
    picked = select_pairs(2, 4, "optimistic", sides(left, right, feats), feats, rng)
    assert picked.tolist() == [0, 2]  # scores 6, -2, 5, 0
