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
from prefrl.config import ConfigError, RunConfig  # noqa: E402


def main(argv: Sequence[str] | None = None) -> int:
    parser = cli.build_parser(RunConfig, "python -m experiments.mujoco", __doc__.splitlines()[0])
    parser.add_argument("--run-dir", default=None, help="run directory (default: runs/<env>_<labels>_s<seed>)")
    config, ns = cli.parse(RunConfig, argv, parser)
    if config.teacher == "human":
        raise ConfigError("--teacher human needs the labelling page, which is not built yet; use --teacher oracle")
    run_dir = ns.run_dir or cli.default_run_dir(
        "runs", config.env, "true" if config.true_reward else config.labels, f"s{config.seed}")
    from prefrl.trainer import PreferenceRun

    run = PreferenceRun(config, run_dir)  # checks the run directory before any output
    with tqdm(total=config.steps, unit="step", desc=f"{config.env} {run_dir}", file=sys.stderr) as bar:
        def progress(m):
            bar.update(m["env_steps"] - bar.n)
            ret = m.get("eval/true_return")
            bar.set_postfix(labels=m["labels"], **({"eval_return": f"{ret:.0f}"} if ret is not None else {}))

        run.on_metrics = progress
        summary = run.run()
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    cli.main_guard(main)()
