"""One line of JSON: a hash of the policy network's outputs (Walker2d's shapes: 17 -> 64 -> 64 -> 6, tanh)
on fixed weights and inputs at batch sizes 1, 8, 64 and 256, computed by torch on one thread, and the
branch MKL reports for its matrix products (its ``MKL_VERBOSE`` lines).

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

os.environ["MKL_VERBOSE"] = "1"  # before torch loads MKL; its lines are kept out of this script's output

import torch  # noqa: E402


def outputs_hash() -> tuple[str, float]:
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    w1, w2, w3 = (torch.randn(a, b, generator=g) * 0.3 for a, b in ((64, 17), (64, 64), (6, 64)))
    out = []
    for batch in (1, 8, 64, 256):
        x = torch.randn(batch, 17, generator=g)
        hidden = torch.tanh(torch.nn.functional.linear(torch.tanh(torch.nn.functional.linear(x, w1)), w2))
        out.append(torch.nn.functional.linear(hidden, w3))
    digest = hashlib.sha256(b"".join(t.numpy().tobytes() for t in out)).hexdigest()[:16]
    return digest, out[-1][0, 0].item()


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


if __name__ == "__main__":
    (digest, first), branch = mkl_branch(outputs_hash)
    print(json.dumps({"hash": digest, "first_output": first, "MKL_CBWR": os.environ.get("MKL_CBWR"),
                      "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(), **branch}))
