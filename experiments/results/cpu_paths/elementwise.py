"""One line of JSON: a hash (first 6 hex digits of SHA-256) of each of torch's elementwise functions on the
same 4096 floats as probe.py's ``torch_elementwise`` part, one function at a time, so that a difference in
that part can be traced to the functions behind it. Run it under each ``MKL_CBWR``: a function whose hash
moves with MKL's branch goes through MKL's vector math on this CPU.

    for c in AUTO COMPATIBLE AVX2; do MKL_CBWR=$c python experiments/results/cpu_paths/elementwise.py; done
"""

import hashlib
import json
import os

import numpy as np
import torch

FUNCTIONS = {"exp": torch.exp, "tanh": torch.tanh, "log1p": torch.log1p, "sigmoid": torch.sigmoid,
             "sqrt_abs": lambda v: torch.sqrt(v.abs()), "sin": torch.sin, "divide": lambda v: v / (v.abs() + 1.0),
             "square": lambda v: v ** 2}

if __name__ == "__main__":
    torch.set_num_threads(1)
    x = torch.randn(4096, generator=torch.Generator().manual_seed(1))
    hashes = {name: hashlib.sha256(np.ascontiguousarray(f(x).numpy()).tobytes()).hexdigest()[:6]
              for name, f in FUNCTIONS.items()}
    print(json.dumps({"MKL_CBWR": os.environ.get("MKL_CBWR"), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                      **hashes}))
