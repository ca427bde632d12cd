"""The oracle's scores of a run's labelled clips, by training stage.

    python experiments/results/backflip/development/clip_scores.py RUN_DIR [RUN_DIR ...]

Reads RUN_DIR/labels.sqlite (not committed; the run's command regenerates it) and scores both
clips of every labelled query with the checked-out code's backflip score: per stage of training,
the clips' mean and largest score, the median score gap within a query, and the share of clips
that finish a clean flip.
"""

import sys
from pathlib import Path

import numpy as np

from prefrl.store import LabelStore
from synthetic_oracle.backflip import track

STAGES = ((0, 20_000), (20_000, 500_000), (500_000, 1_000_000), (1_000_000, 10**9))

for run in sys.argv[1:]:
    if not (Path(run) / "labels.sqlite").is_file():
        sys.exit(f"{run}/labels.sqlite not found: run the run's command first (the file is not committed)")
    store = LabelStore(f"{run}/labels.sqlite")
    rows = []
    for query, _ in store.training_labels():
        (sa, ca), (sb, cb) = (track(store.segment(i).facts) for i in (query.left_id, query.right_id))
        rows.append((query.env_steps, sa.sum(), sb.sum(), ca.backflips > 0, cb.backflips > 0))
    r = np.array(rows, dtype=float)
    print(f"{run}: {len(r)} labelled queries")
    for lo, hi in STAGES:
        m = (r[:, 0] >= lo) & (r[:, 0] < hi)
        if m.any():
            print(f"  env steps {lo:>9,}-{min(hi, 1_503_232):>9,}: {m.sum():3d} queries, clip score mean {r[m, 1:3].mean():5.2f} "
                  f"max {r[m, 1:3].max():5.1f}, median gap {np.median(np.abs(r[m, 1] - r[m, 2])):4.2f}, "
                  f"clips with a clean flip {r[m, 3:5].mean():.3f}")
