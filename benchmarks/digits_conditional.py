"""Train a class-conditional ``ncsnv2`` on the 8×8 digits (labels dropped 10% of the time, for
classifier-free guidance) and, for each guidance weight, print the library's digit classifier's
accuracy on samples of every class and the per-class Fréchet distance over its floor; write a
10×10 grid (one row per class).

    flock /tmp/scoregen-bench.lock env OMP_NUM_THREADS=1 python benchmarks/digits_conditional.py --steps 2000

Per-class FD compares ``m`` samples of class ``c`` with the training images of class ``c`` in the
classifier's features; its floor is the same distance for the test images of class ``c`` (``m``
is the smallest test-class count, so samples and floor have the same size and the same bias).
"""

import argparse
import json
import time
from pathlib import Path

import torch

from scoregen import build, data
from scoregen.classifier import digit_classifier
from scoregen.metrics import frechet_distance


def per_class_fd(samples: torch.Tensor, labels: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> list[float]:
    """FD between the samples of each class and the images ``x`` of that class (features of the digit classifier)."""
    net = digit_classifier()
    with torch.no_grad():
        feats, ref = net.features(samples.clamp(0, 1)), net.features(x)
    return [frechet_distance(feats[labels == c], ref[y == c]) for c in range(10)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--drop", type=float, default=0.1)
    parser.add_argument("--weights", type=float, nargs="+", default=[0.0, 1.0, 2.0, 3.0, 4.0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/bench-digits-cond")
    args = parser.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)
    x, y = data.digits("train", labels=True)
    x_test, y_test = data.digits("test", labels=True)
    m = int(torch.bincount(y_test).min())
    floors = per_class_fd(x_test, y_test, x, y)

    cpu0 = time.process_time()
    model = build("ncsnv2", conditioning={"classes": 10, "drop": args.drop})
    model.fit(x, labels=y, steps=args.steps, batch_size=args.batch_size, seed=args.seed, progress=False)
    print(f"trained {args.steps} steps at batch {args.batch_size}: {(time.process_time() - cpu0) / 60:.1f} CPU-min")
    model.save(out / "model")
    print(f"{m} samples a class; per-class FD floor (test vs train): mean {sum(floors) / 10:.2f}, "
          f"range {min(floors):.2f}–{max(floors):.2f}\n")
    print("| w | classifier accuracy | per-class FD / floor: mean | worst | CPU-s |")
    print("|---|---|---|---|---|")
    net = digit_classifier()
    labels = torch.arange(10).repeat_interleave(m)
    rows, grids = [], {}
    for w in args.weights:
        cpu = time.process_time()
        samples = model.sample(len(labels), labels=labels, guidance=w, seed=args.seed + 1)
        with torch.no_grad():
            accuracy = float((net(samples.clamp(0, 1)).argmax(1) == labels).double().mean())
        ratios = [fd / floor for fd, floor in zip(per_class_fd(samples, labels, x, y), floors)]
        rows.append({"weight": w, "accuracy": accuracy, "fd_over_floor": ratios})
        grids[w] = samples.reshape(10, m, *samples.shape[1:])[:, :10].flatten(0, 1)
        print(f"| {w} | {accuracy:.3f} | {sum(ratios) / 10:.2f} | {max(ratios):.2f} | {time.process_time() - cpu:.0f} |", flush=True)
    (out / "benchmark.json").write_text(json.dumps({"floors": floors, "rows": rows, "args": vars(args)}, indent=2))

    from scoregen import plotting

    for w, grid in grids.items():
        plotting.plot_image_grid(grid, out / f"grid_w{w:g}.png", nrow=10, title=f"one row per class, guidance w = {w:g}")


if __name__ == "__main__":
    main()
