"""Environments of prefrl; importing this package registers the ``prefrl/*`` gymnasium ids."""

from envs import backflip
from envs.grasp import register as register_grasp
from envs.paper_tasks import TASKS, register_all

register_all()
register_grasp()
backflip.register()

__all__ = ["TASKS", "task_names", "env_id", "default_segment_steps"]


def task_names() -> list[str]:
    """Names accepted by ``--env``."""
    return [spec.id.split("/")[1].rsplit("-v", 1)[0] for spec in _prefrl_specs()]


def env_id(task: str) -> str:
    """``Hopper`` -> ``prefrl/Hopper-v0``; a clear error for an unknown name."""
    known = task_names()
    if task not in known:
        raise ValueError(f"unknown env {task!r}; known: {', '.join(known)}")
    return f"prefrl/{task}-v0"


def default_segment_steps(task: str) -> int | None:
    """The paper's segment length in steps for a paper task; None for the others (their
    segments default to 1.5 s of simulated time)."""
    return TASKS[task].segment_steps if task in TASKS else None


def _prefrl_specs():
    import gymnasium as gym

    return [s for s in gym.registry.values() if s.id.startswith("prefrl/")]
