"""Re-judge every kept episode (``*_episode.npz`` under this folder) with the current judges.

    python experiments/results/grasp/rejudge.py > experiments/results/grasp/rejudge.txt

Per episode: each judge's verdict, the steps where neither camera sees the ball, and the mitigated
judge's mean error in the ball's lift (m) on those steps against the true height.
"""

from pathlib import Path

import numpy as np

from prefrl.segments import Segment
from synthetic_oracle.grasp import HIDDEN, full_state, mitigated, verdicts

HERE = Path(__file__).parent
print("episode | full | camera | mitigated | hidden in both (steps) | mitigated lift error there (m)")
for path in sorted(HERE.rglob("*_episode.npz")):
    e = Segment.from_npz(path.read_bytes())
    both = (e.facts["judge_ball_visible"] < HIDDEN) & (e.facts["side_ball_visible"] < HIDDEN)
    err = np.abs(mitigated(e).lift - full_state(e).lift)[both]
    v = verdicts(e)
    print(f"{path.relative_to(HERE)} | {v['full']:d} | {v['camera']:d} | {v['mitigated']:d} | {both.sum()} | "
          + (f"{err.mean():.3f}" if both.any() else "-"))
