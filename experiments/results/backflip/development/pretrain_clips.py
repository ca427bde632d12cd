"""What the first (pretraining) queries of a run show: with and without unsupervised exploration.

    python experiments/results/backflip/development/pretrain_clips.py RUN_DIR [RUN_DIR ...]

Reads RUN_DIR/labels.sqlite (not committed; the run's command regenerates it), takes the queries
asked at the run's first query step (the pretraining share), and reports over their clips: the
backflip oracle's score (mean, spread, largest), the median score gap within a query, the largest
backward turn of the torso within a clip (rad; a flip is 2*pi), the share of airborne steps, and
the share of steps with torso or thigh on the floor.
"""

import sys
from pathlib import Path

import numpy as np

from prefrl.store import LabelStore
from synthetic_oracle.backflip import track

for run in sys.argv[1:]:
    if not (Path(run) / "labels.sqlite").is_file():
        sys.exit(f"{run}/labels.sqlite not found: run the run's command first (the file is not committed)")
    store = LabelStore(f"{run}/labels.sqlite")
    queries = list(store.queries())
    first = min(q.env_steps for q in queries)
    scores, gaps, turns, airborne, floor = [], [], [], [], []
    for q in (q for q in queries if q.env_steps == first):
        pair = []
        for seg in (store.segment(q.left_id), store.segment(q.right_id)):
            f = seg.facts
            s, _ = track(f)
            pair.append(s.sum())
            pitch = np.asarray(f["pitch"], float)
            turns.append(float(np.max(np.maximum.accumulate(pitch) - pitch)))  # largest backward turn
            airborne.append(float(np.mean(np.asarray(f["airborne"]) > 0)))
            floor.append(float(np.mean((np.asarray(f["contact_torso"]) + np.asarray(f["contact_thigh"])) > 0)))
        scores += pair
        gaps.append(abs(pair[0] - pair[1]))
    s = np.array(scores)
    print(f"{run}: {len(gaps)} queries at env step {first:,}: score mean {s.mean():.2f} sd {s.std():.2f} "
          f"max {s.max():.1f}, median gap {np.median(gaps):.2f}; backward turn median {np.median(turns):.2f} "
          f"max {np.max(turns):.2f} rad, clips turning > pi {np.mean(np.array(turns) > np.pi):.2f}; "
          f"airborne {np.mean(airborne):.2f}, torso/thigh on the floor {np.mean(floor):.2f}")
