"""The full counts of the fault-injection tests (``make reliability``): every random fault tried
``--trials`` times (default 20) per kind, then one table of what was tried and what survived.

Runs the reliability tests with ``SCORELAB_TRIALS`` and ``SCORELAB_CRASH_KILLS`` set, collects
the counts each test records (tests/reliability/faults.py: ``record``), prints them as a
Markdown table and writes ``results/reliability_counts.{md,json}``. A failing test fails the
run (and its counts are missing from the table).
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RANDOM_TESTS = ["tests/reliability/test_crash_safety.py", "tests/reliability/test_polite_stops.py",
                "tests/reliability/test_run_lock.py", "tests/reliability/test_long_sampling.py",
                "tests/reliability/test_distributed.py"]
FIXED_TESTS = ["tests/reliability/test_full_disk.py", "tests/reliability/test_fuzz.py"]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=20, help="trials per kind of random fault (default: 20)")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    p.add_argument("tests", nargs="*", help="test files to run (default: every reliability test with counts)")
    args = p.parse_args()
    counts_file = Path(tempfile.mkstemp(suffix=".jsonl")[1])
    env = {**os.environ, "SCORELAB_TRIALS": str(args.trials), "SCORELAB_CRASH_KILLS": str(args.trials),
           "SCORELAB_COUNTS": str(counts_file), "OMP_NUM_THREADS": "1"}
    t0 = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:xdist", "-p", "no:cacheprovider", "-q",
                           *(args.tests or RANDOM_TESTS + FIXED_TESTS)], cwd=ROOT, env=env)
    minutes = (time.monotonic() - t0) / 60
    rows = [json.loads(line) for line in counts_file.read_text().splitlines()]
    counts_file.unlink()
    header = (f"{len(rows)} rows, `--trials {args.trials}`, pytest exit {done.returncode}, {minutes:.1f} min, "
              f"{platform.node()}, Python {platform.python_version()}, load {os.getloadavg()[0]:.1f}, "
              f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    table = ["| fault | counts |", "| --- | --- |"]
    table += [f"| {r.pop('row')} | " + ", ".join(f"{k}: {v}" for k, v in r.items()) + " |"
              for r in [dict(r) for r in rows]]
    text = header + "\n\n" + "\n".join(table) + "\n"
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "reliability_counts.md").write_text(text)
    (args.out / "reliability_counts.json").write_text(json.dumps(
        {"trials": args.trials, "pytest_exit": done.returncode, "minutes": round(minutes, 1), "rows": rows},
        indent=2) + "\n")
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
