"""Helpers of the fault-injection tests: scorelab in a subprocess, waiting for a moment to
strike, and how many trials to run.

``make test`` runs a few trials of each random fault; ``SCORELAB_TRIALS=N`` runs N (the full
counts, ``make reliability``), and ``SCORELAB_COUNTS=FILE`` makes each test append its counts
to FILE as one JSON line, which ``benchmarks/reliability_counts.py`` turns into the table of
docs/reliability.md.
"""
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import scorelab

# Children import the scorelab under test, wherever the working directory is.
_SRC = str(Path(scorelab.__file__).resolve().parents[1])
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE", "PYTHONUNBUFFERED": "1",
       "PYTHONPATH": os.pathsep.join([_SRC, *filter(None, [os.environ.get("PYTHONPATH")])])}


def trials(fast: int, kinds: int = 1) -> int:
    """``fast`` in ``make test``; in the full run ``$SCORELAB_TRIALS`` for each of ``kinds``
    kinds of fault (signals, say) that the trials cycle through."""
    full = os.environ.get("SCORELAB_TRIALS")
    return fast if full is None else int(full) * kinds


def record(row: str, **counts) -> None:
    """Print ``counts`` and append them to ``$SCORELAB_COUNTS`` (if set) as one JSON line."""
    line = json.dumps({"row": row, **counts})
    print(f"counts: {line}", file=sys.stderr)
    if os.environ.get("SCORELAB_COUNTS"):
        with open(os.environ["SCORELAB_COUNTS"], "a") as f:
            f.write(line + "\n")


def scorelab(args, cwd, **kwargs) -> subprocess.Popen:
    """``python -m scorelab ARGS`` in the background, stderr piped."""
    return subprocess.Popen([sys.executable, "-m", "scorelab", *map(str, args)], env=ENV, cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, **kwargs)


def tmp_files(directory: Path) -> list[str]:
    """The temporary files of atomic writes (``.NAME.<random>.tmp``) in ``directory``."""
    try:
        return sorted(n for n in os.listdir(directory) if n.startswith(".") and n.endswith(".tmp"))
    except FileNotFoundError:
        return []


def inode(path: Path):
    try:
        return path.stat().st_ino
    except FileNotFoundError:
        return None


def wait_for(condition, proc, timeout=120.0, poll=0.001) -> bool:
    """Poll ``condition()`` until it holds (True) or ``proc`` exits (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(poll)
    raise AssertionError(f"no progress within {timeout:.0f} s")


def one_line(err: str, start: str) -> str:
    """The single line of ``err`` (no traceback), which begins with ``start``."""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(start) and "Traceback" not in err, err
    return lines[0]


def stopped_step(line: str) -> int:
    """The step in '... stopped by SIGTERM at step 123 of 300 ...'."""
    return int(re.search(r"at step (\d+) of", line).group(1))
