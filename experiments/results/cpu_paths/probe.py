"""One line of JSON: a hash of the policy network's outputs (Walker2d's shapes: 17 -> 64 -> 64 -> 6, tanh)
on fixed weights and inputs at batch sizes 1, 8, 64 and 256, computed by torch on one thread; hashes of
the run's other kinds of arithmetic (``parts``: torch's elementwise functions, an Adam step, numpy, a
MuJoCo rollout); and the branch MKL reports for its matrix products (its ``MKL_VERBOSE`` lines).

    python experiments/results/cpu_paths/probe.py
    qemu-x86_64 -cpu Haswell .venv/bin/python experiments/results/cpu_paths/probe.py   # as an Intel CPU would

Equal hashes: the two processes' matrix products agree to the bit.
"""

import hashlib
import json
import os
import re
import sys
import tempfile
from pathlib import Path

os.environ["MKL_VERBOSE"] = "1"  # before torch loads MKL; its lines are kept out of this script's output

import gymnasium  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402


def digest(*arrays) -> str:
    """The first 16 hex digits of the SHA-256 of the arrays' bytes."""
    return hashlib.sha256(b"".join(np.ascontiguousarray(a).tobytes() for a in arrays)).hexdigest()[:16]


def outputs_hash() -> tuple[str, float]:
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    w1, w2, w3 = (torch.randn(a, b, generator=g) * 0.3 for a, b in ((64, 17), (64, 64), (6, 64)))
    out = []
    for batch in (1, 8, 64, 256):
        x = torch.randn(batch, 17, generator=g)
        hidden = torch.tanh(torch.nn.functional.linear(torch.tanh(torch.nn.functional.linear(x, w1)), w2))
        out.append(torch.nn.functional.linear(hidden, w3))
    return digest(*(t.numpy() for t in out)), out[-1][0, 0].item()


def mkl_branch(run) -> tuple[object, dict[str, str | None]]:
    """``run()``'s result and what MKL said it ran meanwhile: its CNR mode and the processor family it
    dispatched for. ``MKL_VERBOSE`` (set before torch loads MKL) writes to the C-level stdout, so that
    is sent to a file while ``run`` works (in this process: a child would escape an emulator)."""
    sys.stdout.flush()
    saved = os.dup(1)
    with tempfile.TemporaryFile(mode="w+") as log:
        os.dup2(log.fileno(), 1)
        try:
            result = run()
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)
        log.seek(0)
        text = log.read()
    cnr = re.search(r"CNR:(\S+)", text)
    family = re.search(r"for Intel\(R\) 64 architecture (.*?) processors", text)
    return result, {"cnr": cnr.group(1) if cnr else None, "dispatch": family.group(1) if family else None}


def parts_hashes() -> dict[str, str]:
    """Hashes of the other kinds of arithmetic a run does, each on fixed inputs: torch's elementwise
    functions, one Adam step of a small network (autograd), numpy's reductions and elementwise
    functions, and a MuJoCo rollout of Walker2d under fixed actions."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(4096, generator=g)
    out = {"torch_elementwise": digest(*(f(x).numpy() for f in (torch.exp, torch.tanh, torch.log1p, torch.sigmoid,
                                                                 lambda v: torch.sqrt(v.abs()), torch.sin)))}
    net = torch.nn.Sequential(torch.nn.Linear(17, 64), torch.nn.Tanh(), torch.nn.Linear(64, 1))
    for param in net.parameters():
        param.data = torch.randn(param.shape, generator=g) * 0.3
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss = (net(torch.randn(256, 17, generator=g)) ** 2).mean()
    loss.backward()
    optimiser.step()
    out["torch_adam_step"] = digest(*(param.detach().numpy() for param in net.parameters()))
    rng = np.random.default_rng(0)
    a = rng.standard_normal((1000, 17))
    out["numpy"] = digest(a.mean(axis=0), a.var(axis=0), np.sqrt(np.abs(a)), np.exp(a), np.tanh(a), a @ a.T)
    import mujoco

    model = mujoco.MjModel.from_xml_path(str(Path(gymnasium.__file__).parent / "envs/mujoco/assets/walker2d_v5.xml"))
    data = mujoco.MjData(model)
    controls = np.random.default_rng(0).uniform(-1, 1, (1000, model.nu))
    states = []
    for u in controls:
        data.ctrl[:] = u
        for _ in range(4):
            mujoco.mj_step(model, data)
        states.append(np.concatenate([data.qpos, data.qvel]))
    out["mujoco_rollout"] = digest(np.array(states))
    return out


if __name__ == "__main__":
    ((net_hash, first), parts), branch = mkl_branch(lambda: (outputs_hash(), parts_hashes()))
    print(json.dumps({"hash": net_hash, "first_output": first, "parts": parts, "MKL_CBWR": os.environ.get("MKL_CBWR"),
                      "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(), **branch}))
