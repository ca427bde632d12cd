"""Files of the grasp experiment: the success plot and GIFs of a fooled and an honest episode."""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import json  # noqa: E402
from collections.abc import Mapping, Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from envs.grasp import CAMERAS, CONTROL_DT, XML, scripted_fake, scripted_grasp  # noqa: E402
from prefrl.segments import Segment  # noqa: E402

FRAME_EVERY = 2  # render every 2nd control step: 0.08 s, exact as a GIF delay (8/100 s)
COLOURS = {"camera": "tab:red", "full": "tab:blue", "mitigated": "tab:green"}


def plot_success(results: Mapping[str, Any], path: Path) -> None:
    """True (solid) and judge-perceived (dashed) success over training, one colour per judge."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for judge, r in results["judges"].items():
        curve = r["curve"]
        if not curve:
            continue
        x = [c["env_steps"] for c in curve]
        colour = COLOURS.get(judge)
        seeds = max(c["seeds"] for c in curve)
        ax.plot(x, [c["true_success"] for c in curve], "-o", color=colour, ms=3,
                label=f"{judge} judge: true success ({seeds} seeds)")
        ax.plot(x, [c["perceived_success"] for c in curve], "--", color=colour,
                label=f"{judge} judge: success it perceives")
    ax.set_xlabel("environment steps (labels grow with steps, 25% up front)")
    ax.set_ylabel("share of evaluation episodes")
    ax.set_ylim(-0.03, 1.03)
    ax.set_title("Grasp from comparisons: true vs perceived success")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:  # none when no run has an evaluation yet
        ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def render_views(qpos: np.ndarray, size: int = 128, every: int = FRAME_EVERY) -> list[np.ndarray]:
    """Frames of a replayed episode, judge camera left, side camera right. (T, nq) -> [(size, 2*size, 3)]"""
    import mujoco

    model = mujoco.MjModel.from_xml_path(str(XML))
    model.vis.global_.offwidth = max(model.vis.global_.offwidth, size)
    model.vis.global_.offheight = max(model.vis.global_.offheight, size)
    data = mujoco.MjData(model)
    frames = []
    with mujoco.Renderer(model, size, size) as renderer:
        for q in qpos[::every]:
            data.qpos[:] = q
            mujoco.mj_forward(model, data)
            views = []
            for cam in CAMERAS:
                renderer.update_scene(data, camera=cam)
                views.append(renderer.render())
            frames.append(np.concatenate(views, axis=1))
    return frames


def write_gif(episode: Segment, path: Path, size: int = 128) -> None:
    import imageio.v3 as iio

    frames = render_views(episode.qpos, size)
    iio.imwrite(path, np.stack(frames), duration=int(round(1000 * CONTROL_DT * FRAME_EVERY)), loop=0)


def kept_rate(run: Path, kind: str) -> float:
    """The rate at the evaluation a run kept its ``kind`` example from (``examples.json``; 0 if unknown)."""
    index = run / "examples.json"
    return json.loads(index.read_text()).get(kind, {}).get("rate", 0.0) if index.exists() else 0.0


def write_gifs(run_dirs: Mapping[str, Sequence[Path]], out: Path) -> list[Path]:
    """For each judge, a fooled and an honest episode kept by its runs (from the run whose kept
    example had the highest rate, else the first seed that has one); scripted motions where none has."""
    from experiments.grasp import EXAMPLES, record_episodes, scripted

    motions = {"fooled": scripted_fake, "honest": scripted_grasp}
    written = []
    for judge, dirs in run_dirs.items():
        for kind in EXAMPLES:
            if kind == "fooled" and judge == "full":
                continue  # the full-state judge is the truth: it cannot be fooled
            kept = sorted((d / f"{kind}_episode.npz" for d in dirs if (d / f"{kind}_episode.npz").exists()),
                          key=lambda f: -kept_rate(f.parent, kind))  # the most often fooled run first
            if kept:
                episode, name = Segment.from_npz(kept[0].read_bytes()), f"{kind}_{judge}_{kept[0].parent.name}.gif"
            else:
                episode = record_episodes(scripted(motions[kind]), 1, seed=0, n_envs=1)[0]
                name = f"{kind}_{judge}_scripted.gif"
            write_gif(episode, out / name)
            written.append(out / name)
    return written
