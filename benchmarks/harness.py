"""Interleaved timing, machine description and result files (Markdown + JSON)."""
import datetime
import gc
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch


def interleaved(fns: dict, *, repeats: int, warmup: int = 2, min_block_s: float = 0.05,
                budget_s: float = float("inf"), min_repeats: int = 3, slow_s: float = 0.5,
                sync=None) -> dict:
    """Time every callable in ``fns`` round-robin in one process; return per-call statistics.

    Each callable is warmed up ``warmup`` times (interleaved; once if a call takes over
    ``slow_s``), then timed in blocks of k calls
    (k chosen so that a block lasts at least ``min_block_s``). Repetition r runs the blocks in
    the order rotated by r, so no implementation always goes first. It stops after ``repeats``
    repetitions, or earlier once ``budget_s`` is spent (but not before ``min_repeats``).
    Returns {name: {"median_s", "p25_s", "p75_s", "min_s", "cpu_median_s", "n_blocks",
    "calls_per_block", "samples_s", "cpu_samples_s"}}: wall-clock seconds per call, and the
    process's CPU time per call (all its threads; steadier than wall time when other processes
    compete for the cores), with the samples in repetition order (so ratios can be paired).
    ``sync`` (e.g. ``torch.cuda.synchronize``) runs before every clock reading, so the time of
    asynchronous device work lands in the block that queued it.
    """
    sync = sync or (lambda: None)
    names = list(fns)
    first = {n: float("inf") for n in names}
    for w in range(max(1, warmup)):
        for n in names:
            if w and first[n] > slow_s:  # one warm-up is enough for a call this long
                continue
            sync()
            t = time.perf_counter()
            fns[n]()
            sync()
            first[n] = min(first[n], time.perf_counter() - t)
    inner = {n: max(1, int(min_block_s / max(first[n], 1e-6))) for n in names}
    samples = {n: [] for n in names}
    cpu = {n: [] for n in names}
    start = time.perf_counter()
    gc_was_enabled = gc.isenabled()
    try:
        for r in range(repeats):
            if r >= min_repeats and time.perf_counter() - start > budget_s:
                break
            order = names[r % len(names):] + names[:r % len(names)]
            gc.enable()
            gc.collect()  # cheap once run.py has frozen the import-time objects (gc.freeze)
            gc.disable()  # no collector pause inside a timed block
            for n in order:
                fn, k = fns[n], inner[n]
                sync()
                c, t = time.process_time(), time.perf_counter()
                for _ in range(k):
                    fn()
                sync()
                samples[n].append((time.perf_counter() - t) / k)
                cpu[n].append((time.process_time() - c) / k)
    finally:
        if gc_was_enabled:
            gc.enable()
    return {n: summarise(samples[n], cpu[n], inner[n]) for n in names}


def prepare(threads: int) -> None:
    """Before timing: torch's thread count, and the import-time objects frozen out of the
    collector's way (``gc.collect()`` between repetitions then takes ~1 ms)."""
    torch.set_num_threads(threads)
    gc.collect()
    gc.freeze()


def quartiles(xs: list) -> list:
    """[Q1, median, Q3] of ``xs`` (a single value stands for all three)."""
    return statistics.quantiles(xs, n=4) if len(xs) > 1 else [xs[0]] * 3


def summarise(samples: list, cpu: list, calls_per_block) -> dict:
    """The statistics :func:`interleaved` reports, from per-call wall and CPU samples."""
    q = quartiles(samples)
    return {"median_s": statistics.median(samples), "p25_s": q[0], "p75_s": q[2], "min_s": min(samples),
            "cpu_median_s": statistics.median(cpu), "n_blocks": len(samples),
            "calls_per_block": calls_per_block, "samples_s": samples, "cpu_samples_s": cpu}


def pool(stats: list[dict]) -> dict:
    """Pool one callable's :func:`interleaved` statistics from several processes: the samples
    are concatenated in process order (so pairing two callables' samples by index still pairs
    blocks of one repetition of one process) and the statistics recomputed; each process chose
    its own block size, so ``calls_per_block`` becomes the list of them."""
    return summarise([x for st in stats for x in st["samples_s"]],
                     [x for st in stats for x in st["cpu_samples_s"]], [st["calls_per_block"] for st in stats])


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine(threads: int, extra: dict | None = None) -> dict:
    """What the numbers depend on: CPU, cores, threads, library versions, load, date."""
    import peers
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    info = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpu": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "torch_threads": threads,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "torch": torch.__version__,
        "torchebm": peers.version(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_start": load,
    }
    info.update(extra or {})
    return info


def header(title: str, info: dict, notes: list[str]) -> str:
    load = info.get("load_average_at_start")
    load_txt = "n/a" if load is None else ", ".join(f"{v:.2f}" for v in load)
    lines = [
        f"# {title}",
        "",
        f"Measured {info['date']} on {gpu_text(info)}{info['cpu']} ({info['logical_cpus']} logical CPUs, "
        f"torch.set_num_threads({info['torch_threads']}), OMP_WAIT_POLICY={info['omp_wait_policy']}), "
        f"torch {info['torch']}, torchebm {info['torchebm'] or 'not installed'}, Python {info['python']}; "
        f"load average at start {load_txt}; mode: {info.get('mode', 'full')}.",
        "",
    ]
    lines += [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def gpu_text(info: dict) -> str:
    """'an NAME (CUDA x, N GiB) with ' when the run timed a GPU, else ''."""
    gpu = info.get("gpu")
    return f"an {gpu['name']} (CUDA {gpu['cuda']}, {gpu['memory_gib']:.0f} GiB) with " if gpu else ""


def gpu_info(device) -> dict | None:
    """The card's name, CUDA version and memory when ``device`` is a CUDA device, else None."""
    if torch.device(device).type != "cuda":
        return None
    props = torch.cuda.get_device_properties(device)
    return {"name": props.name, "cuda": torch.version.cuda, "memory_gib": props.total_memory / 2**30,
            "multiprocessors": props.multi_processor_count}


def synchronizer(device):
    """What :func:`interleaved` calls before reading the clock: CUDA's synchronize, or None."""
    return torch.cuda.synchronize if torch.device(device).type == "cuda" else None


def table(columns: list[str], rows: list[list], align: str | None = None) -> str:
    """A GitHub Markdown table; ``align`` is one character per column ('l' or 'r')."""
    align = align or "l" + "r" * (len(columns) - 1)
    sep = ["---:" if a == "r" else ":---" for a in align]
    out = ["| " + " | ".join(columns) + " |", "| " + " | ".join(sep) + " |"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out) + "\n"


def fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    ms = seconds * 1e3
    if ms >= 1000:
        return f"{ms / 1e3:.2f} s"
    if ms >= 100:
        return f"{ms:.0f} ms"
    if ms >= 10:
        return f"{ms:.1f} ms"
    return f"{ms:.2f} ms"


def write(results_dir: Path, stem: str, markdown: str, payload: dict) -> None:
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / f"{stem}.md").write_text(markdown)
    (results_dir / f"{stem}.json").write_text(json.dumps(payload, indent=1) + "\n")
