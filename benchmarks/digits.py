"""Train ``ncsnv2`` on the 8×8 digits on the CPU and print, at several checkpoints, the Fréchet
distance of 360 samples to the training split over its floor (test split vs training split) and
the class coverage; write the sample grid and the curve for docs/images.md.

    OMP_NUM_THREADS=1 python benchmarks/digits.py --steps 3000 --eval-every 500 --out runs/bench-digits

CPU time (``time.process_time``) is reported beside wall time: on a shared machine only the
former says what the run costs.
"""

import argparse
import json
import time
from pathlib import Path

import torch

from scoregen import build, data, load
from scoregen.classifier import digit_fd, digit_fd_floor
from scoregen.training import TrainConfig, train
from scoregen.training.checkpoint import checkpoint_dirs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--eval-every", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--n-samples", type=int, default=360)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/bench-digits")
    parser.add_argument("--docs", default=None, help="also write the grid and curve PNGs into this folder")
    args = parser.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)

    x, reference = data.digits("train"), data.digits("train")
    floor = digit_fd_floor()
    config = TrainConfig(
        steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed, log_every=50,
        checkpoint_every=args.eval_every, keep=args.steps // args.eval_every + 1,
    )
    cpu0, wall0 = time.process_time(), time.perf_counter()
    model = train(build("ncsnv2"), x, config, out=out, progress=False)
    train_cpu, train_wall = time.process_time() - cpu0, time.perf_counter() - wall0
    print(f"trained {args.steps} steps at batch {args.batch_size}: {train_cpu / 60:.1f} CPU-min ({train_wall / 60:.1f} min wall)")
    print(f"levels: {len(model.kernel.sigmas)} from sigma_1 = {float(model.kernel.sigmas[0]):.3f}; floor FD = {floor:.2f}")
    rows = []
    for path in sorted(checkpoint_dirs(out / "checkpoints")):
        step = int(path.name.split("-")[1])
        cpu = train_cpu * step / args.steps
        samples = load(path).sample(args.n_samples, seed=args.seed + 1)
        result = digit_fd(samples, reference)
        rows.append({"step": step, "train_cpu_min": cpu / 60, "fd": result["fd"], "fd_over_floor": result["fd"] / floor,
                     "classes_covered": result["classes_covered"], "class_counts": result["class_counts"]})
        print(f"step {step:6d}  ~{cpu / 60:5.1f} CPU-min  FD {result['fd']:8.2f} = {result['fd'] / floor:6.2f} x floor  "
              f"classes {result['classes_covered']}/10  counts {result['class_counts']}")
    (out / "benchmark.json").write_text(json.dumps({"floor": floor, "rows": rows, "args": vars(args)}, indent=2))

    from scoregen import plotting

    docs = Path(args.docs) if args.docs else out
    plotting.plot_image_grid(samples[:64], docs / "digits_samples.png", title=f"ncsnv2, {args.steps} steps")
    plotting.plot_curve([r["train_cpu_min"] for r in rows], [r["fd_over_floor"] for r in rows], docs / "digits_fd.png",
                        xlabel="training CPU-minutes", ylabel="FD / floor", hline=3.0)


if __name__ == "__main__":
    main()
