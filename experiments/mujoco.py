"""Train on a paper MuJoCo task from synthetic comparisons (or the true reward as baseline).

    python -m experiments.mujoco --env Hopper --labels 700
    python -m experiments.mujoco --env Hopper --true-reward

Writes the run directory (default runs/<env>_<labels or true>_s<seed>): config.json,
metrics.jsonl, labels.sqlite, TensorBoard logs (tb_*), policy.zip, reward_model.npz, summary.json.
"""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import json  # noqa: E402
import sys  # noqa: E402
from collections.abc import Sequence  # noqa: E402

from tqdm import tqdm  # noqa: E402

from prefrl import cli  # noqa: E402
from prefrl.config import RunConfig  # noqa: E402


def main(argv: Sequence[str] | None = None) -> int:
    parser = cli.build_parser(RunConfig, "python -m experiments.mujoco", __doc__)
    parser.add_argument("--run-dir", default=None, help="run directory (default: runs/<env>_<labels>_s<seed>)")
    cli.add_label_page_flags(parser)
    config, ns = cli.parse(RunConfig, argv, parser)
    run_dir = ns.run_dir or cli.default_run_dir(
        "runs", config.env, "true" if config.true_reward else config.labels, f"s{config.seed}")
    from prefrl.trainer import PreferenceRun

    teacher = cli.start_teacher(config, run_dir, ns)  # --teacher human: the page, its URL printed
    with cli.teacher_closed(teacher):
        run = PreferenceRun(config, run_dir, teacher=teacher)  # checks the run directory before any output
        summary = _train(run, config, run_dir)
    print(json.dumps(summary, indent=2))
    return 0


def _train(run, config: RunConfig, run_dir) -> dict:
    with tqdm(total=config.steps, unit="step", desc=f"{config.env} {run_dir}", file=sys.stderr) as bar:
        def progress(m):
            bar.update(m["env_steps"] - bar.n)
            ret = m.get("eval/true_return")
            bar.set_postfix(labels=m["labels"], **({"eval_return": f"{ret:.0f}"} if ret is not None else {}))

        run.on_metrics = progress
        return run.run()


if __name__ == "__main__":
    cli.main_guard(main)()
