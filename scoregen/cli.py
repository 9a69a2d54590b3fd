"""The ``scoregen`` command line: ``demo``, ``list``, ``train``, ``sample``, ``plot``,
``suggest-sigmas``. The training commands live in :mod:`scoregen.cli_train`."""

import argparse
import json
import sys


def _cmd_demo(args) -> int:
    from scoregen.demo import run_demo

    metrics = run_demo(args.out, steps=args.steps, n_samples=args.samples, seed=args.seed, progress=not args.quiet)
    print(json.dumps(metrics, indent=2))
    print(f"wrote {args.out}/samples.png, {args.out}/score_field.png, {args.out}/metrics.json, {args.out}/model/")
    return 0


def _cmd_list(args) -> int:
    from scoregen.registry import get_registry

    rows = [(e.kind, e.name, e.provider) for e in get_registry() if args.kind in (None, e.kind)]
    widths = [max(len(r[i]) for r in rows + [("kind", "name", "provider")]) for i in range(3)]
    for row in [("kind", "name", "provider"), *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    return 0


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scoregen", description="Score-based generative models you can see and verify.")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="train NCSN on the 8-mode ring; write pictures and metrics")
    demo.add_argument("--out", default="runs/demo", help="output folder (default: runs/demo)")
    demo.add_argument("--steps", type=int, default=10_000, help="training steps (default: 10000)")
    demo.add_argument("--samples", type=int, default=4000, help="samples to draw (default: 4000)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--quiet", action="store_true", help="no progress bars")
    demo.set_defaults(run=_cmd_demo)

    lst = sub.add_parser("list", help="every registered component: kind, name, providing plugin")
    lst.add_argument("kind", nargs="?", choices=("kernel", "estimator", "objective", "sampler", "preset"))
    lst.set_defaults(run=_cmd_list)

    from scoregen.cli_train import add_commands

    add_commands(sub)
    return parser


def main(argv=None) -> int:
    from scoregen.errors import ScoregenError

    args = make_parser().parse_args(argv)
    try:
        return args.run(args)
    except ScoregenError as exc:
        print(f"scoregen: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
