"""The summary of a full run, written into ``benchmarks/README.md`` between its two markers.

``run.py`` calls :func:`update_readme` after a full CPU run; ``python benchmarks/summary.py``
rewrites the section from the JSON results already in ``benchmarks/results/``. Everything
between the markers comes from those files; the prose around them is written by hand.
"""
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import harness  # noqa: E402

START, END = "<!-- make bench: start -->", "<!-- make bench: end -->"


def _ratio(a: dict | None, b: dict | None) -> float | None:
    return None if a is None or b is None else a["median_s"] / b["median_s"]


def _span(values) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "—"
    lo, hi = min(values), max(values)
    return f"{lo:.2f}" if f"{lo:.2f}" == f"{hi:.2f}" else f"{lo:.2f}–{hi:.2f}"


def ratio_ranges(rows: list[dict]) -> str:
    """One line per (case, network): scorelab's time over hand-written and over torchebm's,
    the range over the dimensions timed."""
    groups = {}
    for r in rows:
        groups.setdefault((r["label"], r["family"]), []).append(r["results"])
    body = [[label, family,
             _span(_ratio(res.get("scorelab"), res.get("handwritten")) for res in group),
             _span(_ratio(res.get("scorelab"), res.get("torchebm")) for res in group)]
            for (label, family), group in groups.items()]
    return harness.table(["case", "network", "scorelab / hand-written", "scorelab / torchebm"], body, "llrr")


def verdicts(targets: list[dict]) -> str:
    body = [[t["target"], "n/a" if t["met"] is None else ("met" if t["met"] else "**missed**"),
             "; ".join(t["misses"]) or "every case"] for t in targets]
    return harness.table(["target", "verdict", "misses: ratio (paired IQR)"], body, "lll")


def section(results: Path) -> str:
    parts = []
    for name, title in (("objectives", "Objectives (one training step)"), ("samplers", "Samplers")):
        path = results / f"{name}.json"
        if not path.exists():
            continue
        data = json.loads(path.read_text())
        m = data["machine"]
        parts.append(f"### {title}\n\nMeasured {m['date'][:10]} on {m['cpu']} ({m['logical_cpus']} logical "
                     f"CPUs, {m['torch_threads']} torch thread(s)), torch {m['torch']}, torchebm "
                     f"{m['torchebm']}; `{name}.md` has every case. Ratios: scorelab's "
                     "median time over the other's (below 1: scorelab is faster), range over "
                     "d ∈ {" + ", ".join(str(d) for d in sorted({r['d'] for r in data['rows']})) + "}.\n\n"
                     + ratio_ranges(data["rows"]) + "\n" + verdicts(data["targets"]))
    return "\n".join(parts)


def update_readme(results: Path = HERE / "results", readme: Path = HERE / "README.md") -> None:
    """Replace the text between the markers of ``readme`` by :func:`section` of ``results``."""
    text = readme.read_text()
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    readme.write_text(f"{head}{START}\n{section(results)}\n{END}{tail}")


if __name__ == "__main__":
    update_readme()
