"""Run the benchmark scripts that exist, then regenerate BENCHMARKS.md (bench/report.py).

usage:
    python bench/run.py            # full budgets (make bench)
    python bench/run.py --quick    # each script's --quick budget (make bench-quick)
    python bench/run.py --only structured allocation

Scripts (each optional, run in this order when present): bench/structured.py,
bench/allocation.py, bench/sweeps.py, bench/compress.py. A script that fails is reported
and the others still run; the exit code is 1 if any failed. Never part of ``make test``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ["structured", "allocation", "sweeps", "compress"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="pass --quick to every script")
    ap.add_argument("--only", nargs="*", choices=SCRIPTS, default=None)
    args = ap.parse_args(argv)
    failed = []
    for name in args.only or SCRIPTS:
        path = ROOT / "bench" / f"{name}.py"
        if not path.exists():
            print(f"bench/{name}.py: not present, skipped", flush=True)
            continue
        cmd = [sys.executable, str(path)] + (["--quick"] if args.quick else [])
        print(f"$ {' '.join(cmd[1:])}", flush=True)
        start = time.time()
        rc = subprocess.call(cmd, cwd=ROOT)
        print(f"bench/{name}.py: exit {rc}, {time.time() - start:.0f} s", flush=True)
        if rc:
            failed.append(name)
    rc = subprocess.call([sys.executable, str(ROOT / "bench" / "report.py")], cwd=ROOT)
    if rc:
        failed.append("report")
    print("BENCHMARKS.md regenerated" if not rc else "bench/report.py failed", flush=True)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
