"""A population: several policies learning from one label store and one label budget.

Each member is a :class:`prefrl.trainer.PreferenceRun` of its own (its own policy, seed, recorded
clips and reward-model fit) that asks its share of the labels due on its own clips, into the one
SQLite file, and fits its reward model on every member's labels. Members keep step: after asking
the labels due at ``T`` env steps a member waits until every other member has asked its own, then
learns from each member's labels asked up to ``T`` (its own and no later ones), in the order (step,
member, query). So a population run is as repeatable as a single one, whichever member runs ahead.

Why: at a small budget the backflip is found by some seeds early and by most never
(experiments/results/backflip/README.md); members sharing labels each try, and the clips of one that
finds the take-off teach every member's reward model what it is worth.
"""

from __future__ import annotations

import os
import queue
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

SEED_STRIDE = 1000
"""Member ``k`` of a run with seed ``s`` uses seed ``s + k * SEED_STRIDE``; member 0 is seeded as a
single run of seed ``s`` is."""
POLL_SECONDS = 0.2


@dataclass(frozen=True)
class Member:
    index: int
    size: int
    store: Path
    """The population's label store, shared by every member."""

    def __post_init__(self):
        if not 0 <= self.index < self.size:
            raise ValueError(f"member {self.index} of a population of {self.size}")

    def share(self, due: int) -> int:
        """This member's part of ``due`` labels: the parts differ by at most one and sum to ``due``."""
        return due * (self.index + 1) // self.size - due * self.index // self.size

    def seed(self, seed: int) -> int:
        return seed + self.index * SEED_STRIDE

    @property
    def peers(self) -> list[int]:
        return [i for i in range(self.size) if i != self.index]


def progress_key(index: int) -> str:
    """The store's meta key holding the env steps up to which member ``index`` has asked its labels."""
    return f"population/asked_up_to/{index}"


def keep_step(member: Member, store, steps: int) -> None:
    """Record that ``member`` has asked its labels up to ``steps``, then wait until every peer has."""
    store.set_meta(progress_key(member.index), str(steps))
    while any(int(store.get_meta(progress_key(i)) or -1) < steps for i in member.peers):
        time.sleep(POLL_SECONDS)


class PopulationFailed(RuntimeError):
    """A member process of a population ended without finishing."""


def _member_main(target: Callable, parent: int, *args) -> None:
    """A member's process: it ends with the population's (even one killed with SIGKILL), so that a
    population started again to resume is not joined by the old one's members."""
    from prefrl.run_dir import die_with_parent

    die_with_parent(parent)
    target(*args)


def run_members(target: Callable, jobs: Sequence[tuple], finished: Callable[[int], bool], store: Path,
                on_metrics: Callable[[int, dict], None] | None = None) -> None:
    """Each unfinished member's ``target(*job, events)`` in a process of its own (``job``'s last item is
    its :class:`Member`), until all end; ``target`` puts ``(index, metrics)`` on ``events``, handed to
    ``on_metrics``. PopulationFailed if one did not finish: the others are then stopped (they would
    wait for it for ever); every label stays in ``store``."""
    import multiprocessing as mp

    from prefrl.store import LabelStore

    # made here, once: members opening a new file together race to switch it to WAL ("database is locked")
    LabelStore(store).close()
    ctx = mp.get_context("spawn")  # fresh interpreters: no simulator or render state inherited
    events = ctx.Queue()
    procs = [ctx.Process(target=_member_main, args=(target, os.getpid(), *job, events), daemon=True) for job in jobs
             if not finished(job[-1].index)]
    for p in procs:
        p.start()
    try:
        while any(p.is_alive() for p in procs) or not events.empty():
            try:
                index, m = events.get(timeout=1.0)
            except queue.Empty:
                if any(p.exitcode not in (None, 0) for p in procs):
                    break  # a member failed
                continue
            if on_metrics:
                on_metrics(index, m)
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
            p.join()
    failed = [job[-1].index for job in jobs if not finished(job[-1].index)]
    if failed:
        raise PopulationFailed(f"policy {failed[0]} of the population stopped before its end (its error is above); "
                               f"every label is in {store}: run the same command to resume")
