"""Run every benchmark in bench/ (each prints its figures and writes bench/results/<name>.json)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    # Each benchmark uses its own database (plumb_bench_<name>, see bench.common): one
    # shared database mixed their tables, and autovacuum, busy with one benchmark's million
    # fresh rows, left another's statistics stale and its plans wrong.
    failed = []
    for script in sorted(HERE.glob("*.py")):
        if script.name in {"run_all.py", "common.py"} or script.name.startswith("_"):
            continue
        print(f"== {script.name}", flush=True)
        if subprocess.run([sys.executable, str(script)], check=False).returncode != 0:
            failed.append(script.name)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
