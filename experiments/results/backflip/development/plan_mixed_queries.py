"""Planning on r_hat with half of each iteration's queries drawn uniformly from the plans (probe).

    python experiments/results/backflip/development/plan_mixed_queries.py [experiments.backflip flags]

experiments.backflip as it is, except prefrl.planner.query_pairs: of the n pairs an iteration asks,
n - n//2 are the optimistic ones (each of r_hat's most optimistic plans against a random other)
and n//2 are uniform random pairs of the batch, so a flipping plan that r_hat does not yet rate
highly reaches the teacher with some chance. Run for the planner phase (plan_flip_share in
metrics.jsonl), e.g. with --steps just above the planner's steps.
"""

import os
import sys
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")
sys.path.insert(0, str(Path(__file__).resolve().parents[4]))  # the repository

from experiments import backflip  # noqa: E402
from prefrl import cli, planner  # noqa: E402

optimistic = planner.query_pairs


def mixed(member_returns, n, rng):
    pairs = optimistic(member_returns, n - n // 2, rng)
    for _ in range(n // 2):
        i, j = rng.choice(member_returns.shape[1], 2, replace=False)
        pairs.append((int(i), int(j)))
    return pairs


planner.query_pairs = mixed
cli.main_guard(lambda: backflip.main(sys.argv[1:]))()
