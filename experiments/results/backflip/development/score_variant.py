"""Run experiments.backflip with a modified judge score (env reward and oracle both)."""
import json, os, sys
os.environ.setdefault("MUJOCO_GL", "egl")
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[4]))  # the repository
import synthetic_oracle.backflip as SB
w = SB.BackflipWeights(**json.loads(os.environ.get("WEIGHTS", "{}")))
SB.BackflipTracker.__init__.__defaults__ = (w,)
SB.track.__defaults__ = (w,)
if os.environ.get("UNGATED"):  # since 129d855 this is BackflipTracker.step itself; kept to rerun v2 at ba5670a
    import math
    def step(self, pitch, body_pitch, height, body_contact, foot_contact, airborne):
        if not self._started:
            self._start(pitch, body_pitch, body_contact, airborne)
        w, score = self.weights, 0.0
        if body_contact:
            score -= w.ground * abs(pitch - self.prev_pitch)
            if self.clean:
                self.falls += 1
                self.clean = False
        else:  # paid clean or not: the judge rewards any new backward rotation off the floor
            rotation = self._rotation(pitch, body_pitch)
            if rotation > self.best:
                score += w.rotation * (rotation - self.best)
                self.best = rotation
            if height > self.best_height:
                score += w.height * (height - self.best_height)
                self.best_height = height
        self.airborne_seen |= airborne
        touchdown = foot_contact and self.prev_airborne and not body_contact
        if touchdown and self.clean and not self.landed and self.best + SB.UPRIGHT_TOLERANCE >= SB.LANDING_ROTATION:
            score += w.landing * max(0.0, math.cos(pitch))
            self.landed, self.held = True, 0
        if self.landed and self.clean and not body_contact and self.held < SB.HOLD_STEPS:
            score += w.hold * max(0.0, math.cos(pitch))
            self.held += 1
        score += self._stance(pitch, body_pitch, height, body_contact)
        self.prev_pitch, self.prev_airborne = pitch, airborne
        return score
    SB.BackflipTracker.step = step
print("weights", w, "ungated", bool(os.environ.get("UNGATED")), flush=True)
import experiments.backflip as B
from prefrl import cli
cli.main_guard(B.main)()
