"""How many inputs the fuzz tests (tests/test_fuzz.py) try, by verb: refused with a scoregen error,
or accepted with a sane result. Any other outcome fails the run.

    python benchmarks/fuzz_counts.py                 # the default (dev) profile, as in `make test`
    python benchmarks/fuzz_counts.py --profile ci    # the thorough one, as in `make test-slow`

The examples are derandomised, so the counts are the same on every run of one profile and one
set of registered components (a newly registered component adds its own).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="dev", help="hypothesis profile: dev (default) or ci")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        counts_file = Path(tmp) / "counts.json"
        env = {**os.environ, "SCOREGEN_FUZZ_COUNTS": str(counts_file)}
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "-p", "no:cacheprovider",
                   str(ROOT / "tests" / "test_fuzz.py"), f"--hypothesis-profile={args.profile}"]
        result = subprocess.run(command, cwd=ROOT, env=env)
        counts = json.loads(counts_file.read_text()) if counts_file.exists() else {}
    verbs: dict[str, dict[str, int]] = {}
    for key, n in counts.items():
        verb, outcome = key.rsplit(":", 1)
        verbs.setdefault(verb, {"refused": 0, "accepted": 0})[outcome] = n
    width = max([len(v) for v in verbs] + [4])
    print(f"\n{'verb'.ljust(width)}  refused  accepted  total")
    for verb, row in sorted(verbs.items()):
        print(f"{verb.ljust(width)}  {row['refused']:7d}  {row['accepted']:8d}  {row['refused'] + row['accepted']:5d}")
    total = {k: sum(row[k] for row in verbs.values()) for k in ("refused", "accepted")}
    print(f"{'all'.ljust(width)}  {total['refused']:7d}  {total['accepted']:8d}  {sum(total.values()):5d}")
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
