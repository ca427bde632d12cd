"""Render a recorded segment to a looping GIF from its qpos/qvel, through the task's camera.

Only the segments a person will see are rendered (see ``prefrl.labeling.worker``). Speed: the
shadow map is shrunk to 512 px and multisampling turned off (~90 fps at 128 px on 2 CPU cores
with EGL, against ~20 fps with MuJoCo's defaults).

Playback speed: GIF frame delays are whole hundredths of a second, so clips play at 25 fps
(40 ms a frame) by showing every k-th control step, k = round(40 ms / dt). For Hopper (dt 8 ms)
that is every 5th step, exactly real time. When 40 ms is not a multiple of dt the clip is off
real time by at most the rounding; :attr:`ClipRenderer.slowdown` states the factor (1.0 = real
time).

The camera is the task's: a camera named by the env's ``render_camera`` attribute if it has one
(e.g. the judge camera of the grasp task), else the env's fixed camera if gymnasium renders from
one, else gymnasium's default (tracking) camera configuration of the task.

OpenGL contexts belong to the thread that made them: make and use a renderer on one thread.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import gymnasium as gym
import mujoco
import numpy as np
from PIL import Image

import envs
from prefrl.segments import Segment

GIF_FRAME_SECONDS = 0.04  # 25 fps: exact in GIF's hundredths of a second
SHADOW_SIZE = 512  # px (MuJoCo's default 4096 makes rendering ~4x slower)


def encode_gif(frames: np.ndarray, frame_seconds: float) -> bytes:
    """Looping GIF of ``frames`` (F, H, W, 3) uint8, one palette for the whole clip.

    Pillow (the GIF writer imageio uses) with a palette shared by all frames and no dithering:
    ~20 ms for 40 frames at 128 px, against ~650 ms for imageio's per-frame quantisation.
    """
    picks = frames[np.linspace(0, len(frames) - 1, min(4, len(frames))).astype(int)]
    palette = Image.fromarray(np.concatenate(list(picks), axis=0)).quantize(256, Image.Quantize.MEDIANCUT)
    images = [Image.fromarray(f).quantize(palette=palette, dither=Image.Dither.NONE) for f in frames]
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:],
                   duration=round(1000 * frame_seconds), loop=0)
    return buf.getvalue()


class ClipRenderer:
    """Renders segments of one task to GIF bytes; ``size`` is the square frame side in pixels."""

    def __init__(self, env_name: str, size: int = 128):
        if not 16 <= size <= 1024:
            raise ValueError(f"clip size must be 16..1024 px, got {size}")
        self.env_name, self.size = env_name, size
        self._env = gym.make(envs.env_id(env_name))
        unwrapped = self._env.unwrapped
        if not hasattr(unwrapped, "model"):
            self._env.close()
            raise ValueError(f"env {env_name!r} is not a MuJoCo env; cannot render its segments")
        self.model, self.data = unwrapped.model, mujoco.MjData(unwrapped.model)
        self.model.vis.quality.shadowsize = SHADOW_SIZE
        self.model.vis.quality.offsamples = 0
        self.model.vis.global_.offwidth = max(self.model.vis.global_.offwidth, size)
        self.model.vis.global_.offheight = max(self.model.vis.global_.offheight, size)
        self.dt = float(unwrapped.dt)
        self.stride = max(1, round(GIF_FRAME_SECONDS / self.dt))
        self._renderer = mujoco.Renderer(self.model, size, size)
        self.camera = self._task_camera(unwrapped)

    @property
    def frame_seconds(self) -> float:
        """Delay of one GIF frame as stored (whole hundredths of a second)."""
        return max(0.02, round(self.stride * self.dt, 2))

    @property
    def slowdown(self) -> float:
        """Playback time over simulated time: 1.0 is real time, 2.0 half speed."""
        return self.frame_seconds / (self.stride * self.dt)

    def _task_camera(self, unwrapped) -> mujoco.MjvCamera:
        cam = mujoco.MjvCamera()
        name = getattr(unwrapped, "render_camera", None)
        cam_id = -1
        if name is not None:
            cam_id = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_CAMERA, name)
            if cam_id < 0:
                raise ValueError(f"env {self.env_name!r} names render_camera {name!r}, not in its model")
        else:
            cam_id = getattr(getattr(unwrapped, "mujoco_renderer", None), "camera_id", None)
            cam_id = -1 if cam_id is None else cam_id
        if cam_id >= 0:
            cam.type, cam.fixedcamid = mujoco.mjtCamera.mjCAMERA_FIXED, cam_id
            return cam
        # gymnasium's OffScreenViewer start, then the task's default_camera_config on top
        mujoco.mj_forward(self.model, self.data)
        cam.type, cam.fixedcamid = mujoco.mjtCamera.mjCAMERA_FREE, -1
        cam.lookat[:] = np.median(self.data.geom_xpos, axis=0)
        cam.distance = self.model.stat.extent
        config = getattr(getattr(unwrapped, "mujoco_renderer", None), "default_cam_config", None) or {}
        for key, value in config.items():
            if isinstance(value, np.ndarray):
                getattr(cam, key)[:] = value
            else:
                setattr(cam, key, value)
        if cam.trackbodyid >= 0:
            cam.type = mujoco.mjtCamera.mjCAMERA_TRACKING
        return cam

    def frames(self, segment: Segment) -> np.ndarray:
        """Every ``stride``-th step of the segment as images. (F, size, size, 3) uint8"""
        if segment.qpos.shape[1:] != (self.model.nq,) or segment.qvel.shape[1:] != (self.model.nv,):
            raise ValueError(
                f"segment state has qpos {segment.qpos.shape[1:]} / qvel {segment.qvel.shape[1:]}, "
                f"env {self.env_name!r} needs ({self.model.nq},) / ({self.model.nv},)"
            )
        out = []
        for t in range(0, segment.length, self.stride):
            self.data.qpos[:], self.data.qvel[:] = segment.qpos[t], segment.qvel[t]
            mujoco.mj_forward(self.model, self.data)
            self._renderer.update_scene(self.data, self.camera)
            out.append(self._renderer.render())
        return np.stack(out)

    def gif(self, segment: Segment) -> bytes:
        """A GIF that loops forever."""
        return encode_gif(self.frames(segment), self.frame_seconds)

    def write_gif(self, segment: Segment, path: str | Path) -> Path:
        """Write atomically (temp file, then rename): a reader never sees half a GIF."""
        path = Path(path)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(self.gif(segment))
        os.replace(tmp, path)
        return path

    def close(self) -> None:
        self._renderer.close()
        self._env.close()

    def __enter__(self) -> ClipRenderer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
