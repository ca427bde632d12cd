"""What the planner put in front of the teacher (prefrl/planner.py, ``--plan-iterations``).

    python experiments/results/backflip/development/planner_clips.py RUN_DIR [RUN_DIR ...]

Reads RUN_DIR/labels.sqlite (not committed; the run's command regenerates it) and, for the queries
the planner asked (selector ``planner``), in blocks of 100: the mean and largest oracle score of the
labelled clips, how many clips hold a clean flip, and how often the teacher preferred the clip the
planner rated most optimistically (the left one).
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
    rows = []
    for query, label in store.training_labels():
        if query.selector != "planner":
            continue
        (sa, ca), (sb, cb) = (track(store.segment(i).facts) for i in (query.left_id, query.right_id))
        rows.append((sa.sum(), sb.sum(), ca.backflips > 0, cb.backflips > 0, label.choice.target == 1.0))
    r = np.array(rows, dtype=float)
    print(f"{run}: {len(r)} planner queries")
    for lo in range(0, len(r), 100):
        b = r[lo:lo + 100]
        print(f"  queries {lo + 1:>3}-{lo + len(b):>3}: clip score mean {b[:, :2].mean():5.2f} max {b[:, :2].max():5.1f}, "
              f"clips with a clean flip {int(b[:, 2:4].sum())}, optimistic clip preferred {b[:, 4].mean():.2f}")
