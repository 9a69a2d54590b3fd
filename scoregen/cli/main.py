"""The ``scoregen`` command line: ``demo``, ``list``, ``train``, ``sample``, ``plot``,
``suggest-sigmas``. The training commands live in :mod:`scoregen.cli.train`."""

import argparse
import json
import os
import sys

from scoregen.cli.threads import set_threads, threads_help
from scoregen.registry import KINDS


def _cmd_demo(args) -> int:
    from scoregen.cli import demo, demo_masked

    run, default_out, steps, samples, files = {
        "ncsn": (demo.run_demo, "runs/demo", 10_000, 4000, "score_field.png"),
        "masked": (demo_masked.run_masked_demo, "runs/demo-masked", 2000, 64, "imputation.png"),
    }[args.preset]
    from scoregen.cli.train import output_folder

    out = output_folder(args.out or default_out)
    metrics = run(out, steps=args.steps or steps, n_samples=args.samples or samples, seed=args.seed, progress=not args.quiet)
    print(json.dumps(metrics, indent=2))
    print(f"wrote {out}/samples.png, {out}/{files}, {out}/metrics.json, {out}/model/")
    return 0


def _cmd_list(args) -> int:
    from scoregen.plugins import get_registry

    registry = get_registry()
    ambiguous = registry.ambiguous()
    rows = [
        (e.kind, e.name, " and ".join(ambiguous[(e.kind, e.name)]) + " (ambiguous: refused)" if (e.kind, e.name) in ambiguous else e.provider)
        for e in registry
        if args.kind in (None, e.kind)
    ]
    widths = [max(len(r[i]) for r in rows + [("kind", "name", "provider")]) for i in range(3)]
    for row in [("kind", "name", "provider"), *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    if registry.failures:
        print("\nplugins that failed and were skipped:")
        for failure in registry.failures:
            print(f"  {failure.plugin}: {failure.reason}")
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error in one line (``scoregen sample: error: ...``, exit 2) like
    every other CLI error, instead of the usage text followed by the error."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def make_parser() -> argparse.ArgumentParser:
    import scoregen

    parser = _Parser(prog="scoregen", description="Score-based generative models you can see and verify.")
    parser.add_argument("--version", action="version", version=f"scoregen {scoregen.__version__}")
    common = _Parser(add_help=False)
    common.add_argument("--threads", type=int, default=None, help=f"CPU threads for torch (default: {threads_help()})")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", parents=[common], help="train NCSN on the 8-mode ring (or masked on the digits); write pictures and metrics")
    demo.add_argument("--preset", choices=("ncsn", "masked"), default="ncsn", help="ncsn: the 2-D ring; masked: binary digits as tokens")
    demo.add_argument("--out", default=None, help="output folder (default: runs/demo, runs/demo-masked)")
    demo.add_argument("--steps", type=int, default=None, help="training steps (default: 10000 ncsn, 2000 masked)")
    demo.add_argument("--samples", type=int, default=None, help="samples to draw (default: 4000 ncsn, 64 masked)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--quiet", action="store_true", help="no progress bars")
    demo.set_defaults(run=_cmd_demo)

    lst = sub.add_parser("list", help="every registered component: kind, name, providing plugin")
    lst.add_argument("kind", nargs="?", choices=KINDS)
    lst.set_defaults(run=_cmd_list)

    from scoregen.cli.train import add_commands

    add_commands(sub, common)
    return parser


def main(argv=None) -> int:
    from scoregen.errors import ScoregenError

    args = make_parser().parse_args(argv)
    try:
        set_threads(getattr(args, "threads", None))
        return args.run(args)
    except ScoregenError as exc:
        print(f"scoregen: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (`scoregen list | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit's flush cannot fail
        return 1
    except OSError as exc:  # the file system refused (permissions, a full disk): no traceback either
        print(f"scoregen: error: {_one_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("scoregen: interrupted", file=sys.stderr)
        return 130


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


if __name__ == "__main__":
    sys.exit(main())
