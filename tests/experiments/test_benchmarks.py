"""Smoke test of the benchmark suite: ``benchmarks/run.py --quick`` runs and writes its tables."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]  # tests/experiments/ -> the repository


@pytest.mark.slow
def test_quick_benchmark_writes_every_table(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))  # cases.py imports its neighbours by name
    import cases

    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    # the quick run takes under a minute: three minutes is a hang, not a slow machine
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--threads", "1",
                           "--out", str(tmp_path)], capture_output=True, text=True, env=env, timeout=180)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    for stem in ("objectives", "samplers", "memory"):
        md = (tmp_path / f"{stem}.md").read_text()
        assert md.startswith("# ") and "| ---" in md
        payload = json.loads((tmp_path / f"{stem}.json").read_text())
        assert payload["machine"]["torch"]
    objectives = json.loads((tmp_path / "objectives.json").read_text())
    names = {r["name"] for r in objectives["rows"]}
    assert names == set(cases.OBJECTIVES)
    for row in objectives["rows"]:
        for res in row["results"].values():
            assert res["median_s"] > 0
    memory = json.loads((tmp_path / "memory.json").read_text())
    assert memory["cases"] and not [c for c in memory["cases"] if "error" in c]
    assert len(objectives["targets"]) == 4


def test_pooled_timings_keep_the_pairing_and_recompute_the_statistics(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import harness

    a = harness.summarise([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], 5)
    b = harness.summarise([10.0, 20.0], [9.0, 19.0], 7)
    pooled = harness.pool([a, b])
    assert pooled["samples_s"] == [1.0, 2.0, 3.0, 10.0, 20.0]  # process order: index i pairs across callables
    assert pooled["cpu_samples_s"] == [1.0, 2.0, 3.0, 9.0, 19.0]
    assert pooled["median_s"] == 3.0 and pooled["min_s"] == 1.0 and pooled["n_blocks"] == 5
    assert pooled["cpu_median_s"] == 3.0
