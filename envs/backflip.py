"""``prefrl/HopperBackflip-v0``: gymnasium's Hopper-v5 body, set up for learning a backflip.

Changes from Hopper-v5:

* **A flip does not end the episode.** No termination at all (``terminate_when_unhealthy``
  off); episodes have a fixed length, ``EPISODE_STEPS`` (3 s, room for one flip with its
  run-up and landing, and for a 1.5 s segment).
* **Observation** (16): torso height, sin and cos of the torso pitch, the three joint angles,
  the six velocities clipped to +-10, and which of torso, thigh, leg and foot touch the floor
  (0/1). Hopper-v5 observes the accumulated pitch, so a hopper standing after a flip (pitch
  -2*pi) would look unlike one standing before it; sin/cos do not. The contacts are what a
  person watching the clip sees at once (in the air or on the back?) and what the judge's score
  turns on; the reward model reads (observation, action), so without them it must guess floor
  contact from height and angles (measured: a reward model fitted to 500 comparisons without
  them rated the ceiling's clean flips far below its own policy's falls).
* **True reward**: the scripted backflip score of :mod:`synthetic_oracle.backflip`, run live
  over the episode. A backflip has no natural reward; this is the score the synthetic oracle
  judges segments by, so ``--true-reward`` is PPO trained directly on the oracle's score (the
  ceiling of a preference run), and evaluation returns are comparable with it.
* **Camera**: the default (free) camera tracks the torso from 5 m with a level view, wide
  enough to keep the whole flip in view. Shadows are cheap (``shadowsize`` 512) for GIFs.

Info, every step: physical facts only (no judgement):

* ``pitch``: torso pitch in rad, accumulated (not wrapped); a backflip decreases it by 2*pi.
* ``pitch_rate``: its rate, rad/s.
* ``body_pitch``: the pitch of the whole body's axis, from the foot to the torso (0: torso right
  above the foot), accumulated like ``pitch``. It tells a flip from folding at the hip: a
  hopper can fold the torso back 150 degrees while standing, but only a flip turns this axis.
* ``height``: torso height above the floor, m (1.25 standing).
* ``contact_torso``, ``contact_thigh``, ``contact_leg``, ``contact_foot``: 1.0 when that body
  part touches the floor, else 0.0.
* ``airborne``: 1.0 when nothing touches the floor.
* ``qpos``, ``qvel``: the simulator state after the step, for replay.

**Launch curriculum** (training aid, off by default): with probability ``launch_share`` a reset
gives the standing hopper an upward speed and a backward spin, a draw from ``LAUNCH_UP`` and
``LAUNCH_SPIN`` (a hopper held straight flips once from about (5.5 m/s, -5.5 rad/s)) times a
strength uniform in [0, 1]. The agent then meets airborne, spinning states from its first
episodes and can learn the landing before it has found the take-off, as reference-state
initialisation does for motion imitation; the weak launches leave it the rest of the take-off to
add. (Full-strength launches only, measured: PPO on the score learned to land them, 0.6-1.0
flips per launched episode, but never took off from a standing start.)
``experiments.backflip`` lowers the share to 0 during training; evaluation always starts standing.

**Motion history** (``prefrl/HopperBackflipHistory-v0``, ``history=True``): the observation gains
``HISTORY_DIM`` (7) facts about the last 1.5 s, what a person watching the clip has just seen:
the torso's net pitch change over the last 0.25, 0.5, 1 and 1.5 s (unwrapped: about -2*pi over a
backflip, 0 for wobbling on the spot), the highest the torso has been in the last 1 s, and the
share of the last 1 s spent airborne and with torso or thigh on the floor. Without them one
step's observation cannot tell a hopper standing after a flip from one that never left the
ground (sin and cos of the pitch are the same), so a reward model reading (observation,
action) cannot put a flip's value on its landing. Before the first step the history is the reset
state held still.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium.envs.mujoco.hopper_v5 import HopperEnv
from gymnasium.spaces import Box

EPISODE_STEPS = 375  # (control steps) 3 s at 125 steps/s
PARTS = ("torso", "thigh", "leg", "foot")
LAUNCH_UP = (3.5, 6.0)  # (m/s) upward root speed of a launched reset
LAUNCH_SPIN = (-7.0, -3.0)  # (rad/s) pitch rate of a launched reset (negative: backwards)
HISTORY_LAGS = (31, 63, 125, 188)  # (control steps) 0.25, 0.5, 1, 1.5 s: pitch change over each
HISTORY_WINDOW = 125  # (control steps) 1 s: highest torso, airborne and floor shares over it
HISTORY_DIM = len(HISTORY_LAGS) + 3
_WINDOW_BACK = np.arange(HISTORY_WINDOW)  # steps back from now that the window reads
CAMERA = {"trackbodyid": 1, "distance": 5.0, "lookat": np.array((0.0, 0.0, 1.0)), "elevation": -5.0}


class HopperBackflipEnv(HopperEnv):
    def __init__(self, history: bool = False, **kwargs):
        kwargs = {"ctrl_cost_weight": 0.0, "terminate_when_unhealthy": False,
                  "default_camera_config": CAMERA} | kwargs
        super().__init__(**kwargs)
        self.history = history
        self.observation_space = Box(-np.inf, np.inf, shape=(16 + HISTORY_DIM * history,), dtype=np.float64)
        self._past = np.zeros((max(HISTORY_LAGS) + 1, 4))  # ring of (pitch, height, airborne, body on floor)
        self._t = 0
        self.model.vis.quality.shadowsize = 512
        self.model.vis.quality.offsamples = 0
        model = self.model
        self._floor = model.geom("floor").id
        self._part_of_geom = {model.geom(f"{p}_geom").id: p for p in PARTS}
        self._torso, self._foot = model.body("torso").id, model.geom("foot_geom").id
        self._tracker = None
        self._body_pitch = 0.0
        self.launch_share = 0.0
        self.launched = False

    def _get_obs(self, contacts: dict[str, float] | None = None) -> np.ndarray:
        """The observation; ``contacts`` (from :meth:`contacts`) when the caller already has them."""
        qpos, qvel = self.data.qpos, np.clip(self.data.qvel, -10, 10)
        pitch = qpos[2]
        contacts = self.contacts() if contacts is None else contacts
        obs = np.concatenate([[qpos[1], np.sin(pitch), np.cos(pitch)], qpos[3:], qvel,
                              [contacts[f"contact_{p}"] for p in PARTS]])
        return np.concatenate([obs, self._history()]) if self.history else obs

    def _remember(self, facts: dict[str, float], fill: bool = False) -> None:
        """Push this step's (pitch, height, airborne, body on floor), from :meth:`facts`, into the
        history ring; with ``fill`` (at reset) the whole ring, as if the hopper had been held still before."""
        row = (facts["pitch"], facts["height"], facts["airborne"],
               float(facts["contact_torso"] + facts["contact_thigh"] > 0))
        if fill:
            self._past[:] = row
            self._t = 0
        else:
            self._t += 1
            self._past[self._t % len(self._past)] = row

    def _history(self) -> np.ndarray:
        """The motion-history features (see the module docstring). (HISTORY_DIM,)"""
        n = len(self._past)
        now = self._past[self._t % n]
        turned = [now[0] - self._past[(self._t - lag) % n, 0] for lag in HISTORY_LAGS]
        window = self._past[(self._t - _WINDOW_BACK) % n]
        return np.array([*turned, window[:, 1].max(), window[:, 2].mean(), window[:, 3].mean()])

    def contacts(self) -> dict[str, float]:
        """``contact_<part>``: 1.0 where that body part touches the floor."""
        contact = self.data.contact
        g1, g2 = contact.geom1, contact.geom2  # (ncon,)
        other = np.concatenate([g2[g1 == self._floor], g1[g2 == self._floor]])
        touching = {p: float(gid in other) for gid, p in self._part_of_geom.items()}
        return {f"contact_{p}": touching[p] for p in PARTS}

    def _axis_angle(self) -> float:
        """Wrapped angle of the foot -> torso axis from vertical, positive toward +x."""
        dx, _, dz = self.data.xpos[self._torso] - self.data.geom_xpos[self._foot]
        return float(np.arctan2(dx, dz))

    def _update_body_pitch(self) -> None:
        step = self._axis_angle() - self._body_pitch
        self._body_pitch += (step + np.pi) % (2 * np.pi) - np.pi  # accumulate, never wrap

    def facts(self) -> dict[str, float]:
        qpos, qvel = self.data.qpos, self.data.qvel
        contacts = self.contacts()
        return {
            "pitch": float(qpos[2]),
            "pitch_rate": float(qvel[2]),
            "body_pitch": self._body_pitch,
            "height": float(qpos[1]),
            **contacts,
            "airborne": float(not any(contacts.values())),
        }

    def step(self, action):
        self.do_simulation(action, self.frame_skip)
        self._update_body_pitch()
        facts = self.facts()
        if self.history:
            self._remember(facts)
        body = facts["contact_torso"] + facts["contact_thigh"] > 0
        reward = self._tracker.step(facts["pitch"], facts["body_pitch"], facts["height"], body,
                                    facts["contact_foot"] > 0, facts["airborne"] > 0)
        info = facts | {"qpos": self.data.qpos.copy(), "qvel": self.data.qvel.copy()}
        if self.render_mode == "human":
            self.render()
        return self._get_obs(facts), float(reward), False, False, info

    def reset_model(self) -> np.ndarray:
        from synthetic_oracle.backflip import BackflipTracker

        self._tracker = BackflipTracker()
        super().reset_model()
        self.launched = self.launch_share > 0 and bool(self.np_random.random() < self.launch_share)
        if self.launched:
            qvel = self.data.qvel.copy()
            strength = self.np_random.uniform()  # weak launches too: the agent adds the rest itself
            qvel[1] = strength * self.np_random.uniform(*LAUNCH_UP)
            qvel[2] = strength * self.np_random.uniform(*LAUNCH_SPIN)
            self.set_state(self.data.qpos.copy(), qvel)
        self._body_pitch = self._axis_angle()
        if self.history:
            self._remember(self.facts(), fill=True)
        return self._get_obs()

    def _get_reset_info(self) -> dict:
        return self.facts() | {"qpos": self.data.qpos.copy(), "qvel": self.data.qvel.copy()}


def register() -> None:
    if "prefrl/HopperBackflip-v0" not in gym.registry:
        gym.register("prefrl/HopperBackflip-v0", entry_point="envs.backflip:HopperBackflipEnv",
                     max_episode_steps=EPISODE_STEPS)
    if "prefrl/HopperBackflipHistory-v0" not in gym.registry:
        gym.register("prefrl/HopperBackflipHistory-v0", entry_point="envs.backflip:HopperBackflipEnv",
                     max_episode_steps=EPISODE_STEPS, kwargs={"history": True})
