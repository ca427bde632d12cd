"""The backflip judge: a flip counter and a per-step backflip score, from recorded facts only.

Both read the facts that ``prefrl/HopperBackflip-v0`` puts in ``info`` (and a
:class:`~prefrl.segments.Segment` records): ``pitch`` (accumulated torso pitch, rad; a backflip
*decreases* it by 2*pi), ``body_pitch`` (the same for the foot -> torso axis), ``height`` (torso height, m), ``contact_torso``, ``contact_thigh``,
``contact_leg``, ``contact_foot`` (1.0 when that part touches the floor) and ``airborne``.

**Counter.** A *stance* is the hopper upright (torso within ``UPRIGHT_TOLERANCE`` of a multiple
of 2*pi, torso higher than ``UPRIGHT_HEIGHT``, torso and thigh off the floor) held for
``HOLD_STEPS`` (0.2 s). Stances sit on a lattice ``k = round(pitch / 2pi)``. A clean backflip is a
new stance one lattice point lower (the torso turned a full 2*pi backwards) reached with the body
airborne on the way and nothing but the foot (and ankle) touching the floor since the previous stance.
A forward flip is the same upwards. A fall is the first touch of torso or thigh on the floor
after a stance. (The lower end of the leg capsule is the ankle: it touches the floor with the
foot on a flat landing, so leg contact is foot-side, not a fall.)

**Score** (per step; the parts keep the order PPO can climb without a place to settle on):

* ``rotation``: new backward rotation beyond ``UPRIGHT_TOLERANCE`` since the last stance, made
  while torso and thigh are off the floor, capped at one turn. Rotation is the smaller of the
  torso's and the body axis's, so folding the torso back at the hip while standing does not
  count. Only the *increase of the maximum* counts, so back-and-forth wobble nets zero and
  leaning back earns nothing. It is paid whether or not the attempt is still clean: a reward
  model reads one step at a time and cannot see whether the body touched the floor earlier in
  the attempt. (Measured on the 1000 clips of a 500-label development run: the correlation of
  a clip's airborne backward rotation with its score is 0.43 this way, 0.29 when only clean
  attempts earned rotation; experiments/results/backflip/README.md.)
* ``height``: new torso height above standing (``STAND_HEIGHT``) off the floor, again only the
  increase of the maximum: it pays the jump that the airborne rotation needs.
* ``ground``: minus the rotation (either way) made while torso or thigh touch the floor;
  rolling on the floor costs more than anything it could earn.
* ``landing``: once per attempt, the first foot touchdown after >= 3/2 pi of rotation in the
  air, times the uprightness ``max(0, cos(pitch))``.
* ``hold``: per step on the foot after that landing, times the uprightness, for at most
  ``HOLD_STEPS``: staying up after the landing pays before the stance completes.
* ``flip``: per completed clean backflip (at the end of the 0.2 s stance), much more than any
  partial rotation.

A clip that starts mid-attempt is judged from its first frame: rotation before it is not paid.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from prefrl.segments import Segment

TWO_PI = 2.0 * math.pi
UPRIGHT_TOLERANCE = 0.5  # (rad) wrapped pitch within this of a multiple of 2*pi
UPRIGHT_HEIGHT = 0.8  # (m) torso at least this high (standing: 1.25 m)
HOLD_STEPS = 25  # (control steps) 0.2 s at 125 steps/s
STAND_HEIGHT = 1.25  # (m) torso height of the hopper standing straight
LANDING_ROTATION = 1.5 * math.pi  # (rad) rotation before a foot touchdown counts as a landing
FACTS = ("pitch", "body_pitch", "height", "contact_torso", "contact_thigh", "contact_leg", "contact_foot", "airborne")


@dataclass(frozen=True)
class BackflipWeights:
    """Weights of the score's parts (units: score per rad, or per event)."""

    rotation: float = 1.0
    """Per rad of new backward rotation off the floor."""
    height: float = 3.0
    """Per m of new torso height above standing off the floor (pays the jump)."""
    ground: float = 2.0
    """Cost per rad of rotation made while torso or thigh touch the floor."""
    landing: float = 5.0
    """Foot touchdown after >= 3/2 pi of clean rotation, times cos(pitch)."""
    hold: float = 0.4
    """Per step upright on the foot after such a landing (times cos(pitch)), at most HOLD_STEPS."""
    flip: float = 20.0
    """Per completed clean backflip."""
    fall_refund: float = 0.0
    """Share of the rotation pay since the last stance or fall taken back when the body falls
    (torso or thigh onto the floor). 0: a fall keeps it (the default). 1: a tumble that never lands
    earns no more than standing, but PPO on that score no longer finds the flip (measured:
    experiments/results/backflip/development/README.md, ``refund/``)."""


@dataclass(frozen=True)
class FlipCount:
    backflips: int
    forward_flips: int
    falls: int


def wrap(angle: float) -> float:
    """Angle to [-pi, pi)."""
    return (angle + math.pi) % TWO_PI - math.pi


class BackflipTracker:
    """Streams facts one step at a time; :meth:`step` returns that step's score.

    Used on recorded segments by :func:`backflip_score` / :func:`count_flips` and live by the
    environment (its true reward), so both agree on a whole episode.
    """

    def __init__(self, weights: BackflipWeights = BackflipWeights()):
        self.weights = weights
        self.backflips = self.forward_flips = self.falls = 0
        self._started = False

    def _start(self, pitch: float, body_pitch: float, body: bool, airborne: bool) -> None:
        self._started = True
        self.k_stand = round(pitch / TWO_PI)  # lattice point of the last stance
        self.k_axis = round(body_pitch / TWO_PI)  # the body axis's lattice point then
        self.best = max(0.0, self._rotation(pitch, body_pitch))  # rotation already reached: not paid
        self.best_height = STAND_HEIGHT
        self.paid = 0.0  # rotation pay since the last stance or fall
        self.clean = not body  # nothing but the foot touched the floor since the stance
        self.airborne_seen = airborne
        self.landed, self.held = False, 0
        self.hold_k, self.hold_n = self.k_stand, 0
        self.prev_pitch, self.prev_airborne, self.prev_body = pitch, airborne, body

    def _rotation(self, pitch: float, body_pitch: float) -> float:
        """Backward rotation of torso and body axis since the last stance, beyond the upright
        tolerance (rad)."""
        turned = min(TWO_PI * self.k_stand - pitch, TWO_PI * self.k_axis - body_pitch, TWO_PI)
        return turned - UPRIGHT_TOLERANCE

    def step(self, pitch: float, body_pitch: float, height: float, body_contact: bool,
             foot_contact: bool, airborne: bool) -> float:
        if not self._started:
            self._start(pitch, body_pitch, body_contact, airborne)
        w, score = self.weights, 0.0
        if body_contact:
            score -= w.ground * abs(pitch - self.prev_pitch)
            if self.clean:
                self.falls += 1
                self.clean = False
            if not self.prev_body:  # each fall takes back the rotation pay since the last one
                score -= w.fall_refund * self.paid
                self.paid = 0.0
        else:  # off the floor (in the air or on the foot), clean attempt or not
            rotation = self._rotation(pitch, body_pitch)
            if rotation > self.best:
                score += w.rotation * (rotation - self.best)
                self.paid += w.rotation * (rotation - self.best)
                self.best = rotation
            if height > self.best_height:
                score += w.height * (height - self.best_height)
                self.best_height = height
        self.airborne_seen |= airborne
        touchdown = foot_contact and self.prev_airborne and not body_contact
        if touchdown and self.clean and not self.landed and self.best + UPRIGHT_TOLERANCE >= LANDING_ROTATION:
            score += w.landing * max(0.0, math.cos(pitch))
            self.landed, self.held = True, 0
        if self.landed and self.clean and not body_contact and self.held < HOLD_STEPS:
            score += w.hold * max(0.0, math.cos(pitch))
            self.held += 1
        score += self._stance(pitch, body_pitch, height, body_contact)
        self.prev_pitch, self.prev_airborne, self.prev_body = pitch, airborne, body_contact
        return score

    def _stance(self, pitch: float, body_pitch: float, height: float, body_contact: bool) -> float:
        """Track upright holds; at a completed stance count flips and start a new attempt."""
        upright = height > UPRIGHT_HEIGHT and abs(wrap(pitch)) < UPRIGHT_TOLERANCE and not body_contact
        if not upright:
            self.hold_n = 0
            return 0.0
        k = round(pitch / TWO_PI)
        self.hold_n = self.hold_n + 1 if k == self.hold_k else 1
        self.hold_k = k
        if self.hold_n != HOLD_STEPS:
            return 0.0
        score = 0.0
        if k != self.k_stand:
            turns = self.k_stand - k  # > 0: backwards
            if self.clean and self.airborne_seen:
                if turns > 0:
                    self.backflips += turns
                    score = self.weights.flip * turns
                else:
                    self.forward_flips -= turns
            self.k_stand, self.k_axis = k, round(body_pitch / TWO_PI)
            self.best = max(0.0, self._rotation(pitch, body_pitch))
            self.best_height = STAND_HEIGHT
        # Same lattice point: `best` stays, so standing up again does not re-pay old rotation.
        self.clean, self.airborne_seen, self.landed = True, False, False
        self.paid = 0.0
        return score

    @property
    def count(self) -> FlipCount:
        return FlipCount(self.backflips, self.forward_flips, self.falls)


def _fact_rows(facts: Mapping[str, np.ndarray]):
    missing = [f for f in FACTS if f not in facts]
    if missing:
        raise ValueError(f"segment lacks backflip facts {missing}; record it from prefrl/HopperBackflip-v0")
    body = (np.asarray(facts["contact_torso"]) + np.asarray(facts["contact_thigh"])) > 0
    return zip(np.asarray(facts["pitch"], float), np.asarray(facts["body_pitch"], float),
               np.asarray(facts["height"], float), body,
               np.asarray(facts["contact_foot"]) > 0, np.asarray(facts["airborne"]) > 0, strict=True)


def track(facts: Mapping[str, np.ndarray], weights: BackflipWeights = BackflipWeights()
          ) -> tuple[np.ndarray, FlipCount]:
    """Per-step score (T,) and the flip count of one recorded stretch of facts."""
    tracker = BackflipTracker(weights)
    scores = np.array([tracker.step(*row) for row in _fact_rows(facts)], dtype=np.float64)
    return scores, tracker.count


def backflip_score(segment: Segment) -> np.ndarray:
    """The per-step backflip score of a segment (the oracle's ``--oracle-score backflip``). (T,)"""
    return track(segment.facts)[0]


def count_flips(segment: Segment) -> FlipCount:
    """Clean backflips, forward flips and falls in a recorded segment or episode."""
    return track(segment.facts)[1]
