"""Training speed against the number of CPU threads, for the default thread count of the CLI.

Each configuration trains in its own subprocess with ``torch.set_num_threads(n)``, the runs of one
workload interleaved (1, 2, …, 1, 2, …) so that a busy machine slows them alike; prints steps/s and
the ratio to one thread::

    python benchmarks/threads.py --threads 1 2 --repeats 3
"""

import argparse
import json
import os
import subprocess
import sys

WORKLOADS = {
    "ring (ncsn, mlp, batch 256)": ("ncsn", "gmm", 256, 300),
    "digits (ncsnv2, unet, batch 128)": ("ncsnv2", "digits", 128, 30),
}

CHILD = """
import json, sys, time, torch
from scoregen import build
from scoregen.cli.train import load_data
torch.set_num_threads(int(sys.argv[1]))
preset, data, batch, steps = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
x = load_data(data)
build(preset).fit(x, steps=5, batch_size=batch, progress=False)  # warm-up
start = time.perf_counter()
build(preset).fit(x, steps=steps, batch_size=batch, progress=False)
print(json.dumps(steps / (time.perf_counter() - start)))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    print(f"cores available: {len(os.sched_getaffinity(0))}; load average {os.getloadavg()[0]:.1f}")
    for name, (preset, data, batch, steps) in WORKLOADS.items():
        rates: dict[int, list[float]] = {n: [] for n in args.threads}
        for _ in range(args.repeats):
            for n in args.threads:
                cmd = [sys.executable, "-c", CHILD, str(n), preset, data, str(batch), str(steps)]
                rates[n].append(json.loads(subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout))
        best = {n: max(r) for n, r in rates.items()}
        cells = ", ".join(f"{n} thread(s) {best[n]:.1f} steps/s ({best[n] / best[args.threads[0]]:.2f}×)" for n in args.threads)
        print(f"{name}: {cells}")


if __name__ == "__main__":
    main()
