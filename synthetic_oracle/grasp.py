"""Judges of the grasp task (``prefrl/Grasp-v0``), each from a segment's recorded facts.

Every judge turns a segment into what it perceives per step: the hand-ball distance, whether
the ball is grasped, and how high it is lifted (:class:`Perceived`). The same shaping
(:func:`envs.grasp.grasp_score`) then gives its per-step score, which a :class:`ReturnOracle`
sums to compare two segments; and the same rule gives its verdict on an episode: success
(grasped and lifted >= 5 cm) held for :data:`envs.grasp.HOLD_STEPS` consecutive steps.

* **full** (``grasp_full``): the full state. Grasped = both plates touch the ball; lift = the
  ball's true height; distance in 3-D. This is the truth.
* **camera** (``grasp_camera``): sees only the judge camera's image: 2-D image positions, no
  depth. It knows the camera's calibration and that the ball lies near the origin, so it reads
  every image point as lying in the vertical plane through the origin that faces the camera
  (where the ball rests): image points are back-projected onto that plane. A ball that is
  hidden (less than half of it visible) is assumed to be in the hand, at the grasp point.
  Otherwise the ball is grasped when it sits between the plates in the image, level with the
  grasp point, and the plates are closed to about its size.
* **mitigated** (``grasp_mitigated``): OpenAI's fix, depth cues: a second camera at a right
  angle to the first (``side``) gives the depth the first lacks. The judge triangulates the two
  views (the point nearest both rays through a point's two images) to place the hand, the plates
  and the ball in 3-D, wherever they are. A ball hidden in one view lies on the other view's ray,
  at its point nearest the hand (as much "in the hand" as that view allows). A ball hidden in
  both is where the judge last located it: if it was held then, it moved with the hand, at the
  same offset from it (a held ball hangs ~3 cm below the hand's centre, so taking it to be at the
  hand over-read the lift by that much); if it was not held, it stayed where it was. Only a ball
  hidden in both since the segment began is assumed to be in the hand. Grasped = the ball sits
  between the plates, within their half-height of the line joining them, and the plates are
  closed to about its size.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from envs.grasp import BALL_RADIUS, HOLD_STEPS, LIFT_SUCCESS, Camera, cameras, grasp_score, longest_run
from prefrl.segments import Segment

HIDDEN = 0.5  # below this visible fraction a camera does not see the ball
CLOSED_GAP = 1.25 * 2 * BALL_RADIUS  # plates at most this far apart look closed on the ball (m)
LEVEL = 0.03  # ball centre within this of the grasp point's height looks held (m)
_PLATE_THICKNESS = 0.008  # (m): image positions are of the plates' centres
_PLATE_HALF_HEIGHT = 0.035  # (m): a ball this near the line joining the plates' centres is between them
# The plane each camera's judge reads its image in: the one through the origin facing it.
_PLANE_AXIS = {"judge": 1, "side": 0}  # world axis normal to the plane: y for judge, x for side


@dataclass(frozen=True)
class Perceived:
    """What a judge perceives at each step of a segment."""

    distance: np.ndarray  # (T,) hand-ball distance (m)
    grasp: np.ndarray  # (T,) bool: the ball looks held
    lift: np.ndarray  # (T,) the ball's bottom above the table (m)

    @property
    def success(self) -> np.ndarray:
        """(T,) bool: held and lifted >= LIFT_SUCCESS."""
        return self.grasp & (self.lift >= LIFT_SUCCESS)

    @property
    def score(self) -> np.ndarray:
        """Per-step score: the task's shaping on the perceived quantities. (T,)"""
        return sum(grasp_score(self.distance, self.grasp, self.lift).values())


def back_project(uv: np.ndarray, camera: Camera, axis: int) -> np.ndarray:
    """World points where the rays through image points cross the plane ``x[axis] = 0``. (T, 2) -> (T, 3)"""
    rays = camera.ray(uv)  # (T, 3)
    t = -camera.pos[axis] / rays[:, axis]
    return camera.pos + t[:, None] * rays


def full_state(segment: Segment) -> Perceived:
    f = segment.facts
    distance = np.linalg.norm(f["hand_pos"] - f["ball_pos"], axis=1)
    grasp = (f["contact_front"] > 0) & (f["contact_back"] > 0)
    return Perceived(distance, grasp, f["ball_height"].astype(np.float64))


def camera_view(segment: Segment, camera: str) -> Perceived:
    """What one camera's depth-blind judge perceives."""
    f, cam, axis = segment.facts, cameras()[camera], _PLANE_AXIS[camera]
    across = 1 - axis  # the horizontal image direction in world coordinates: x for judge, y for side
    hand, ball = (back_project(f[f"{camera}_{k}_uv"], cam, axis) for k in ("hand", "ball"))  # (T, 3)
    front, back = (back_project(f[f"{camera}_finger_{k}_uv"], cam, axis)[:, across] for k in ("front", "back"))
    lo, hi = np.minimum(front, back), np.maximum(front, back)
    hidden = f[f"{camera}_ball_visible"] < HIDDEN
    between = (lo < ball[:, across]) & (ball[:, across] < hi) & (np.abs(ball[:, 2] - hand[:, 2]) < LEVEL)
    closed = hi - lo - _PLATE_THICKNESS <= CLOSED_GAP
    grasp = hidden | (between & closed)
    seen_ball = np.where(hidden[:, None], hand, ball)  # a hidden ball is taken to be in the hand
    distance = np.where(grasp, 0.0, np.linalg.norm(hand - seen_ball, axis=1))
    return Perceived(distance, grasp, seen_ball[:, 2] - BALL_RADIUS)


def judge_camera(segment: Segment) -> Perceived:
    return camera_view(segment, "judge")


def triangulate(origin_a: np.ndarray, ray_a: np.ndarray, origin_b: np.ndarray, ray_b: np.ndarray) -> np.ndarray:
    """Midpoints of the shortest segments between rays ``origin_a + s ray_a`` and ``origin_b + t ray_b``.
    (3,), (T, 3), (3,), (T, 3) -> (T, 3)"""
    w = origin_a - origin_b  # (3,)
    aa, bb, ab = (np.einsum("ij,ij->i", x, y) for x, y in ((ray_a, ray_a), (ray_b, ray_b), (ray_a, ray_b)))
    aw, bw = ray_a @ w, ray_b @ w  # (T,)
    det = aa * bb - ab**2  # > 0 unless the rays are parallel (never for cameras at a right angle)
    s, t = (ab * bw - bb * aw) / det, (aa * bw - ab * aw) / det
    return 0.5 * (origin_a + s[:, None] * ray_a + origin_b + t[:, None] * ray_b)


def nearest_on_ray(origin: np.ndarray, ray: np.ndarray, points: np.ndarray) -> np.ndarray:
    """The points of rays ``origin + s ray`` (s >= 0) nearest ``points``. (3,), (T, 3), (T, 3) -> (T, 3)"""
    s = np.einsum("ij,ij->i", points - origin, ray) / np.einsum("ij,ij->i", ray, ray)
    return origin + np.maximum(s, 0.0)[:, None] * ray


def mitigated(segment: Segment) -> Perceived:
    """Both cameras, triangulated: positions in 3-D from two depth-blind views at a right angle."""
    f, cams = segment.facts, cameras()
    a, b = cams["judge"], cams["side"]

    def rays(name: str) -> tuple[np.ndarray, np.ndarray]:
        return a.ray(f[f"judge_{name}_uv"]), b.ray(f[f"side_{name}_uv"])

    def located(name: str) -> np.ndarray:
        ray_a, ray_b = rays(name)
        return triangulate(a.pos, ray_a, b.pos, ray_b)

    hand, front, back = located("hand"), located("finger_front"), located("finger_back")  # (T, 3)
    ray_a, ray_b = rays("ball")
    seen_a, seen_b = f["judge_ball_visible"] >= HIDDEN, f["side_ball_visible"] >= HIDDEN
    ball = np.select([(seen_a & seen_b)[:, None], seen_a[:, None], seen_b[:, None]],
                     [triangulate(a.pos, ray_a, b.pos, ray_b), nearest_on_ray(a.pos, ray_a, hand),
                      nearest_on_ray(b.pos, ray_b, hand)], default=hand)  # hidden in both: below
    axis = back - front
    span = np.linalg.norm(axis, axis=1)
    closed = span - _PLATE_THICKNESS <= CLOSED_GAP

    def held(ball: np.ndarray) -> np.ndarray:
        along = np.einsum("ij,ij->i", ball - front, axis) / np.maximum(span, 1e-9) ** 2  # 0 at front, 1 at back
        off_axis = np.linalg.norm(ball - front - along[:, None] * axis, axis=1)
        return (0.0 < along) & (along < 1.0) & (off_axis < _PLATE_HALF_HEIGHT) & closed

    located = seen_a | seen_b
    last = np.maximum.accumulate(np.where(located, np.arange(len(ball)), -1))  # last step it was located
    recalled = ~located & (last >= 0)
    if recalled.any():  # hidden in both after being located: where it was, or carried if it was held
        src = last[recalled]
        carried = held(ball)[src]
        ball[recalled] = np.where(carried[:, None], hand[recalled] + ball[src] - hand[src], ball[src])
    grasp = held(ball)
    distance = np.where(grasp, 0.0, np.linalg.norm(hand - ball, axis=1))
    return Perceived(distance, grasp, ball[:, 2] - BALL_RADIUS)


JUDGES: dict[str, Callable[[Segment], Perceived]] = {
    "full": full_state,
    "camera": judge_camera,
    "mitigated": mitigated,
}
"""Judge name -> what it perceives; ``grasp_<name>`` is its score in ``synthetic_oracle.SCORES``."""


def episode_success(perceived: Perceived, hold: int = HOLD_STEPS) -> bool:
    """The judge's verdict on a whole episode: success held ``hold`` consecutive steps."""
    return longest_run(perceived.success) >= hold


def verdicts(episode: Segment) -> dict[str, bool]:
    """Every judge's verdict on one episode; ``full`` is the truth."""
    return {name: episode_success(judge(episode)) for name, judge in JUDGES.items()}


def scores() -> dict[str, Callable[[Segment], np.ndarray]]:
    """Per-step scores for ``synthetic_oracle.SCORES``: ``grasp_full``, ``grasp_camera``, ``grasp_mitigated``."""
    return {f"grasp_{name}": (lambda seg, j=judge: j(seg).score) for name, judge in JUDGES.items()}
