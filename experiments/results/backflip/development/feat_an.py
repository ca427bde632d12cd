import sys; sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[4]))  # the repository
import numpy as np
from prefrl.store import LabelStore
from synthetic_oracle.backflip import track
st = LabelStore(sys.argv[1])
X, Y, S = [], [], []
for q, lab in list(st.training_labels()):
    for sid in (q.left_id, q.right_id):
        s = st.segment(sid); f = s.facts
        sc, c = track(f)
        dp = np.diff(f["pitch"], prepend=f["pitch"][0])
        air = f["airborne"] > 0; body = (f["contact_torso"] + f["contact_thigh"]) > 0
        X.append([(-dp * air).sum(), (-dp * body).sum(), np.abs(dp * body).sum(), air.mean(), body.mean(), f["height"].max()])
        S.append(sc.sum())
X, S = np.array(X), np.array(S)
names = ["air back rot", "body back rot", "body |rot|", "air share", "body share", "max height"]
for n, col in zip(names, X.T):
    print(n, "corr with score %.2f" % np.corrcoef(col, S)[0, 1], "mean %.2f" % col.mean())
w = np.linalg.lstsq(np.c_[X, np.ones(len(X))], S, rcond=None)[0]; print("lstsq", np.round(w, 2))
