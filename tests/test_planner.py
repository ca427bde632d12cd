"""Planning on r_hat (prefrl/planner.py): the CEM search, its queries, behaviour cloning, and a run
that plans before RL, on the toy line (tests/toy_env.py: true reward = position)."""

import dataclasses

import numpy as np
import pytest

import tests.toy_env  # noqa: F401  (registers prefrl/ToyLine-v0, prefrl/ToyLineTrap-v0)
from prefrl import agents, planner
from prefrl.config import ConfigError, RunConfig
from prefrl.segments import Segment
from prefrl.store import LabelStore
from prefrl.trainer import train
from tests.test_trainer import TINY
from tests.toy_env import EPISODE_STEPS

PLANNED = {**TINY, "plan_iterations": 2, "plan_queries": 3, "steps": 12_288}


def test_plans_interpolate_linearly_between_knots_and_are_clipped_to_the_action_space(rng):
    search = planner.KnotPlanner("ToyLine", EPISODE_STEPS, rng)
    assert search.knots == 5  # a knot every 10 steps over steps 0..39
    plan = np.array([[0.0], [1.0], [3.0], [-0.5], [0.5]])
    actions = search.actions(plan)[:, 0]
    assert actions.shape == (EPISODE_STEPS,)
    assert actions[0] == 0.0 and actions[10] == 1.0 and actions[30] == -0.5
    assert actions[5] == pytest.approx(0.5) and actions[35] == pytest.approx(0.0)
    assert actions[20] == 1.0  # 3 clipped to the action space
    search.close()


def test_cem_moves_its_plans_toward_what_the_rating_prefers(rng):
    """Rated by the distance travelled (a stand-in for r_hat): the plans learn to push right."""
    search = planner.KnotPlanner("ToyLine", EPISODE_STEPS, rng)
    start = [s.qpos[-1, 0] - s.qpos[0, 0] for s in search.roll(search.sample(32), 0)]
    for _ in range(10):
        plans = search.sample(planner.CANDIDATES)
        rollouts = search.roll(plans, 0)
        search.refit(plans, np.array([s.qpos[-1, 0] - s.qpos[0, 0] for s in rollouts]))
    after = [s.qpos[-1, 0] - s.qpos[0, 0] for s in search.roll(search.sample(32), 0)]
    assert search.mean.mean() > 0.5
    assert np.mean(after) > np.mean(start) + 5
    search.close()


def test_queries_ask_about_the_most_optimistic_rollouts_each_against_another(rng):
    returns = np.array([[1.0, 5.0, 0.0, 2.0, 9.0],   # member 0
                        [1.0, 5.0, 6.0, 2.0, 9.0]])  # member 1: rollout 2 is uncertain (mean 3, spread 3)
    pairs = planner.query_pairs(returns, 3, rng)
    assert [i for i, _ in pairs] == [4, 2, 1]  # mean + spread: 9, 6, 5
    assert all(i != j and 0 <= j < 5 for i, j in pairs)


def test_with_teacher_elites_the_most_optimistic_rollouts_are_paired_and_the_teachers_choices_win(rng):
    from prefrl.teachers import Choice

    returns = np.array([[1.0, 5.0, 0.0, 2.0, 9.0, 3.0],
                        [1.0, 5.0, 6.0, 2.0, 9.0, 3.0]])  # optimistic order: 4, 2, 1, 5, 3, 0
    pairs = planner.teacher_pairs(returns, 2, rng)
    assert len(pairs) == 2 and sorted(i for pair in pairs for i in pair) == [1, 2, 4, 5]
    assert planner.winners([(0, 1), (2, 3)], [Choice.LEFT, Choice.RIGHT], rng) == [0, 3]
    ties = {planner.winners([(0, 1)], [choice], rng)[0] for choice in (Choice.EQUAL, Choice.SKIP) for _ in range(20)}
    assert ties == {0, 1}  # a tie or a skip: either, at random


def test_the_search_moves_toward_the_elites_it_is_given(rng):
    search = planner.KnotPlanner("ToyLine", EPISODE_STEPS, rng)
    elites = np.stack([np.full_like(search.mean, 1.0), np.full_like(search.mean, 0.6)])
    search.refit_to(elites)
    assert np.allclose(search.mean, planner.SMOOTHING * 0.8)
    assert np.allclose(search.std, (1 - planner.SMOOTHING) * planner.INIT_STD + planner.SMOOTHING * 0.2
                       + planner.STD_FLOOR)
    search.close()


def test_a_run_with_teacher_elites_refits_the_search_to_the_plans_the_teacher_chose(tmp_path, monkeypatch):
    chosen = []
    real_winners = planner.winners

    def recorded(pairs, choices, rng):
        out = real_winners(pairs, choices, rng)
        chosen.append((list(choices), out))
        return out

    monkeypatch.setattr(planner, "winners", recorded)
    summary = train(RunConfig(**{**PLANNED, "plan_elites": "teacher"}), tmp_path / "run")
    assert summary["labels"] == 24
    store = LabelStore(tmp_path / "run/labels.sqlite")
    planned = [q.id for q in store.queries() if q.selector == "planner"]
    answers = {lab.query_id: lab.choice for lab in store.labels()}
    assert len(chosen) == 2 and len(planned) == 6  # two iterations of three pairs
    assert [c for choices, _ in chosen for c in choices] == [answers[q] for q in planned]
    assert all(len(set(won)) == 3 for _, won in chosen)  # one winner per (disjoint) pair


def test_the_clip_shown_is_the_window_r_hat_rates_best():
    t = 40
    bump = np.zeros(t)
    bump[25:30] = 1.0
    segment = Segment(obs=np.zeros((t, 2)), actions=np.zeros((t, 1)), true_reward=bump, qpos=np.arange(t)[:, None],
                      qvel=np.zeros((t, 1)))
    window = planner.best_window(segment, 10, lambda s: s.true_reward)
    assert window.length == 10 and window.true_reward.sum() == 5.0
    assert planner.best_window(segment, 50, lambda s: s.true_reward) is segment  # shorter than a clip: whole


def test_behaviour_cloning_makes_the_policy_act_as_the_plans_did(rng, tmp_path):
    config = RunConfig(**TINY)
    venv = agents.make_vec_env("ToyLine", 2, 0)
    agent = agents.make_agent(config, venv, None)
    search = planner.KnotPlanner("ToyLine", EPISODE_STEPS, rng)
    search.mean[:] = 0.6  # push right at 0.6 all the way
    rollouts = search.roll(search.sample(8, std_scale=0.0), 0)
    obs = np.concatenate([s.obs for s in rollouts])

    def error():
        return float(np.mean((agent.predict(obs, deterministic=True)[0][:, 0] - 0.6) ** 2))

    before = error()
    planner.distil(agent, rollouts, rng, steps=300)
    assert error() < 0.01 < before
    search.close()
    venv.close()


def test_a_planning_run_asks_its_labels_on_the_planners_clips_and_counts_its_steps(tmp_path):
    summary = train(RunConfig(**PLANNED), tmp_path / "run")
    assert summary["labels"] == 24
    per_iteration = planner.CANDIDATES * EPISODE_STEPS
    assert summary["plan_env_steps"] == 2 * per_iteration + planner.DISTIL_ROLLOUTS * EPISODE_STEPS
    assert summary["env_steps"] >= 12_288
    store = LabelStore(tmp_path / "run/labels.sqlite")
    planned = [q for q in store.queries() if q.selector == "planner"]
    assert len(planned) == 6
    assert {q.id for q in planned} <= {lab.query_id for lab in store.labels()}  # answered
    assert all(store.segment(q.left_id).length == summary["segment_steps"] for q in planned)
    import json

    rows = [json.loads(line) for line in (tmp_path / "run/metrics.jsonl").read_text().splitlines()]
    planning = [r for r in rows if r.get("planning")]
    assert [r["plan/iteration"] for r in planning[:2]] == [0, 1]
    assert "eval/true_return" in planning[2] and "plan/distil_loss" in planning[2]
    assert planning[1]["env_steps"] - planning[0]["env_steps"] == per_iteration
    assert summary["cpu_time_parts"]["planning"] > 0


@pytest.mark.parametrize("elites", ["r_hat", "teacher"])
def test_the_planner_never_reads_the_envs_reward(tmp_path, elites):
    """ToyLineTrap adds 1e6 to every true reward: a planner rating rollouts by it would differ."""
    a = train(RunConfig(**PLANNED, plan_elites=elites), tmp_path / "a")
    b = train(RunConfig(**{**PLANNED, "env": "ToyLineTrap"}, plan_elites=elites), tmp_path / "b")
    assert (tmp_path / "a/reward_model.npz").read_bytes() == (tmp_path / "b/reward_model.npz").read_bytes()
    assert a["final_true_return"] == pytest.approx(b["final_true_return"] - 1e6 * EPISODE_STEPS)


@pytest.mark.parametrize("clash, message", [
    ({"true_reward": True}, "drop --true-reward"),
    ({"explore_steps": 2048}, "drop --explore-steps"),
    ({"offline": True}, "drop --offline"),
    ({"plan_iterations": 7}, "more than the 18 labels left after pretraining"),
    ({"plan_queries": -1}, "--plan-queries must be >= 0"),
    ({"plan_elites": "teacher", "plan_queries": 1}, "it needs --plan-queries >= 2, got 1"),
    ({"plan_elites": "teacher", "plan_iterations": 0}, "without --plan-iterations there is no planner"),
    ({"plan_elites": "judge"}, "unknown plan_elites 'judge'; known: r_hat, teacher"),
])
def test_planning_settings_that_cannot_run_are_refused_in_one_line(clash, message):
    with pytest.raises(ConfigError, match=message) as err:
        RunConfig(**{**PLANNED, **clash})
    assert "\n" not in str(err.value)
    dataclasses.replace(RunConfig(**PLANNED), plan_queries=0)  # planning on r_hat alone is allowed
