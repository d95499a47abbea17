#!/usr/bin/env python
"""scorelab's benchmark suite: objectives, samplers and memory against hand-written PyTorch
and torchebm.

    python benchmarks/run.py            # full run (< 10 min on 2 quiet cores)
    python benchmarks/run.py --quick    # smoke run (< 1 min), written to results/quick/

Writes ``objectives``, ``samplers``, ``memory`` (and, in a full run, ``hotspots``) as
``.md`` and ``.json`` under ``benchmarks/results/``. Implementations of one case are timed
round-robin in one process after a warm-up, and medians are reported; ratios are
scorelab's time over the other's (below 1: scorelab is faster), with the interquartile range of
the per-repetition paired ratios in brackets.
"""
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads OpenMP

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import torch  # noqa: E402

import cases  # noqa: E402
import harness  # noqa: E402
import peers  # noqa: E402

SLOWER_THAN_HANDWRITTEN = 1.05  # target: at most 5% slower than the hand-written loss
SLICED_OVER_DSM = 2.0           # target: sliced SM at most 2× DSM


@dataclasses.dataclass(frozen=True)
class Mode:
    name: str
    setup: cases.Setup
    repeats: int
    warmup: int
    budget_s: float       # per case, after warm-up
    min_block_s: float
    memory_dims: tuple
    memory_names: tuple | None = None  # None: every objective and sampler
    processes: int = 3    # the repetitions are split over this many fresh processes, one after another
    min_repeats: int = 3  # even when a case's budget is spent (the slowest cases take seconds a call)

    def per_process(self) -> "Mode":
        """What one of the ``processes`` workers runs: its share of the repetitions and budget."""
        def share(n):
            return -(-n // self.processes)
        return dataclasses.replace(self, repeats=share(self.repeats), min_repeats=share(self.min_repeats),
                                   budget_s=self.budget_s / self.processes, processes=1)


FULL = Mode("full", cases.Setup(), repeats=15, warmup=2, budget_s=2.5, min_block_s=0.05,
            memory_dims=(2, 16, 64, 256))
# On a GPU every case is launch-bound at these sizes and steadier than on a shared CPU: one
# process, a shorter budget (the whole run fits a few minutes of a lent card); no hotspots.
GPU = dataclasses.replace(FULL, name="gpu", repeats=10, budget_s=1.0, processes=1, memory_dims=(16, 256))
QUICK = Mode("quick", cases.Setup(dims=(2, 16), batch=128, cd_steps=5, n_particles=256, n_steps=20),
             repeats=4, warmup=1, budget_s=0.2, min_block_s=0.01, memory_dims=(16,),
             memory_names=("dsm", "ssm", "exact_vmap", "cd", "langevin"), processes=2)


def impls_here(impls, kind, family):
    """The implementations to run: torchebm only where installed, and its losses take
    energy models only (its sampler takes both, through ``BaseModel.gradient``)."""
    def ok(i):
        return i != "torchebm" or (peers.available() and (kind == "sampler" or family == "energy"))
    return [i for i in impls if ok(i)]


def ratio(a: dict | None, b: dict | None) -> dict | None:
    """a's median time over b's, and the quartiles of the per-repetition ratios (the blocks
    of one repetition ran back to back, so pairing them cancels slow drifts of the machine)."""
    if a is None or b is None:
        return None
    q = harness.quartiles([x / y for x, y in zip(a["samples_s"], b["samples_s"])])
    return {"ratio": a["median_s"] / b["median_s"], "q1": q[0], "q3": q[2]}


def fmt_ratio(r: dict | None) -> str:
    return "—" if r is None else f"{r['ratio']:.2f} ({r['q1']:.2f}–{r['q3']:.2f})"


def pooled(mode: Mode) -> str:
    """How a time in the tables was obtained (for the notes)."""
    if mode.processes == 1:
        return "median over interleaved repetitions in one process"
    return (f"median over interleaved repetitions pooled from {mode.processes} fresh processes "
            f"run one after another")


def ratio_cell(res: dict, a: str, b: str) -> str:
    return fmt_ratio(ratio(res.get(a), res.get(b)))


def time_cases(kind: str, specs: dict, mode: Mode, log) -> list[dict]:
    """Time every case of ``specs`` with all its implementations.

    All the cases of one (network family, d) — every objective (or sampler) and every
    implementation — are interleaved in one round-robin, so that ratios between objectives
    (sliced SM / DSM, vmap / loop) are as fair as those between implementations.
    """
    build = cases.objective_step if kind == "objective" else cases.sampler_run
    families = list(dict.fromkeys(f for _, fams, _ in specs.values() for f in fams))
    rows = []
    for family in families:
        for d in mode.setup.dims:
            fns, names = {}, [n for n, (_, fams, _) in specs.items() if family in fams]
            for name in names:
                net = cases.network(family, d, mode.setup, noise_conditional=name == "annealed")
                x = cases.data(d, mode.setup.batch if kind == "objective" else mode.setup.n_particles, mode.setup)
                for impl in impls_here(specs[name][2], kind, family):
                    fns[(name, impl)] = build(name, family, d, impl, mode.setup, net=net, x=x)
            t0 = time.perf_counter()
            res = harness.interleaved(fns, repeats=mode.repeats, warmup=mode.warmup, min_block_s=mode.min_block_s,
                                      budget_s=mode.budget_s * len(names), min_repeats=mode.min_repeats,
                                      sync=harness.synchronizer(cases.DEVICE))
            for name in names:
                r = {impl: v for (n, impl), v in res.items() if n == name}
                rows.append({"name": name, "label": specs[name][0], "family": family, "d": d, "results": r})
                log(f"{kind} {specs[name][0]:>24} {family:>6} d={d:<4} "
                    + "  ".join(f"{i}={harness.fmt_time(v['median_s'])}" for i, v in r.items()))
            log(f"{kind}s {family} d={d}: {len(fns)} timed together in {time.perf_counter() - t0:.1f} s")
    order = list(specs)
    rows.sort(key=lambda r: (order.index(r["name"]), families.index(r["family"]), r["d"]))
    return rows


def case(r: dict) -> str:
    """A timed row's label in the verdict tables."""
    return f"{r['label']} / {r['family']} / d={r['d']}"


def collect(pairs, limit, strict=False):
    """[(label, ratio)] -> (misses, table) against ``limit`` (``strict``: must be below)."""
    table = [{"case": lab, **q} for lab, q in pairs if q is not None]
    misses = [f"{t['case']}: {fmt_ratio(t)}" for t in table
              if (t["ratio"] >= limit if strict else t["ratio"] > limit)]
    return misses, table


# ---------------------------------------------------------------- objectives

def objective_verdicts(rows: list[dict]) -> list[dict]:
    """The four targets, each with its per-case ratios (scorelab's implementation throughout)."""
    by = {(r["name"], r["family"], r["d"]): r["results"] for r in rows}

    def sl(name, fam, d):
        return by.get((name, fam, d), {}).get("scorelab")

    out = []
    misses, table = collect([(case(r), ratio(r["results"].get("scorelab"), r["results"].get("handwritten")))
                             for r in rows], SLOWER_THAN_HANDWRITTEN)
    out.append({"target": "no objective more than 5% slower than the hand-written loss", "met": not misses,
                "misses": misses, "ratios": table})
    misses, table = collect([(case(r), ratio(r["results"].get("scorelab"), r["results"].get("torchebm")))
                             for r in rows if "torchebm" in r["results"]], 1.0, strict=True)
    out.append({"target": "faster than torchebm on every objective both have",
                "met": (not misses) if table else None, "misses": misses, "ratios": table})
    misses, table = collect([(f"{name} / {fam} / d={d}", ratio(sl(name, fam, d), sl("dsm", fam, d)))
                             for (name, fam, d) in by if name in ("ssm", "ssm_vr")], SLICED_OVER_DSM)
    _, fd_table = collect([(f"ssm_fd / {fam} / d={d}", ratio(sl(name, fam, d), sl("dsm", fam, d)))
                           for (name, fam, d) in by if name == "ssm_fd"], SLICED_OVER_DSM)
    out.append({"target": "sliced score matching at most 2× DSM at every d", "met": not misses,
                "misses": misses, "ratios": table + fd_table,
                "note": "judged on the exact (HVP) estimators; finite differences shown beside them"})
    misses, table = collect([(f"{fam} / d={d}", ratio(sl("exact_vmap", fam, d), sl("exact_loop", fam, d)))
                             for (name, fam, d) in by if name == "exact_vmap"], 1.0)
    out.append({"target": "vectorised exact score matching at least as fast as the loop", "met": not misses,
                "misses": misses, "ratios": table})
    return out


def verdict_md(verdicts: list[dict]) -> str:
    rows = []
    for v in verdicts:
        status = "n/a (torchebm not installed)" if v["met"] is None else ("met" if v["met"] else "**missed**")
        rows.append([v["target"], status, "; ".join(v["misses"]) or "every case"])
    return harness.table(["target", "verdict", "misses: ratio (paired IQR)"], rows, "lll")


def objectives_md(rows, verdicts, info, mode) -> str:
    s = mode.setup
    notes = [
        f"Time per training step (zero_grad, loss, backward, Adam step), {pooled(mode)}; batch "
        f"{s.batch}, MLP width {s.width}, depth {s.depth} (the same initial network, data and seed "
        f"for every implementation).",
        f"DSM at σ = {s.dsm_sigma}; multi-scale DSM over {s.n_sigmas} geometric σ from 1 to 0.01; "
        f"sliced SM with one Gaussian projection per sample (finite differences: ε = 0.01, "
        f"one forward and backward pass on the doubled batch; the 2× target is judged on the "
        f"exact estimators); CD-{s.cd_steps} with ε = "
        f"{s.cd_step_size}, α = {s.cd_alpha}, chains from the data.",
        "Hand-written: plain PyTorch in `benchmarks/handwritten.py`; energy scores by "
        "`torch.autograd.grad(create_graph=True)`; exact SM (vmap) uses `is_grads_batched`.",
        "torchebm: `DenoisingScoreMatching`, `SlicedScoreMatching(n_projections=1, "
        "projection_type='gaussian')`, `ScoreMatching(hessian_method='exact')` (vmap of jacrev), "
        "`ContrastiveDivergence` + `LangevinDynamics` (see `benchmarks/peers.py`); its losses take "
        "energy models only, so it appears in the energy-network table. It has no multi-scale DSM, "
        "no variance-reduced SSM and no loop-based exact SM.",
        "Ratios: scorelab's median time over the other's (below 1: scorelab is faster); in "
        "brackets the interquartile range of the per-repetition paired ratios.",
    ]
    md = harness.header("Objectives: time per training step", info, notes)
    for family, title in cases.FAMILIES.items():
        fr = [r for r in rows if r["family"] == family]
        if not fr:
            continue
        md += f"\n## {title}\n\n"
        body = []
        for r in fr:
            res = r["results"]
            body.append([r["label"], r["d"]]
                        + [harness.fmt_time(res[i]["median_s"]) if i in res else "—" for i in cases.IMPLS]
                        + [ratio_cell(res, "scorelab", "handwritten"), ratio_cell(res, "scorelab", "torchebm")])
        md += harness.table(["objective", "d", "scorelab", "hand-written", "torchebm",
                             "scorelab / hand-written", "scorelab / torchebm"], body, "lrrrrrr")
    md += "\n## Targets\n\n" + verdict_md(verdicts)
    sv = {t["case"]: t for t in verdicts[2]["ratios"]}
    ev = {t["case"]: t for t in verdicts[3]["ratios"]}
    md += "\n" + harness.table(
        ["network", "d", "sliced SM / DSM", "sliced SM-VR / DSM", "FD sliced SM / DSM", "exact vmap / loop"],
        [[f, d] + [fmt_ratio(sv.get(f"{n} / {f} / d={d}")) for n in ("ssm", "ssm_vr", "ssm_fd")]
         + [fmt_ratio(ev.get(f"{f} / d={d}"))] for f in cases.FAMILIES for d in mode.setup.dims])
    return md


# ---------------------------------------------------------------- samplers

def sampler_verdicts(rows):
    te_miss, te = collect([(case(r), ratio(r["results"]["scorelab"], r["results"]["torchebm"]))
                           for r in rows if "torchebm" in r["results"]], 1.0, strict=True)
    hw_miss, hw = collect([(case(r), ratio(r["results"]["scorelab"], r["results"]["handwritten"]))
                           for r in rows], SLOWER_THAN_HANDWRITTEN)
    return [
        {"target": "faster than torchebm on every sampler both have", "met": (not te_miss) if te else None,
         "misses": te_miss, "ratios": te},
        {"target": "(reference) no sampler more than 5% slower than the hand-written loop", "met": not hw_miss,
         "misses": hw_miss, "ratios": hw},
    ]


def samplers_md(rows, verdicts, info, mode) -> str:
    s = mode.setup
    notes = [
        f"Throughput in particle-steps per second (particles × score evaluations / wall time; "
        f"{pooled(mode)}), {s.n_particles} particles; Langevin: {s.n_steps} steps, ε = {s.step_size}, unconditional "
        f"network; annealed Langevin: {s.n_sigmas} geometric σ from 1 to 0.01 × "
        f"{max(1, s.n_steps // s.n_sigmas)} steps (ε = {s.annealed_step_size}) + Tweedie's "
        f"denoising step, noise-conditional network. MLP width {s.width}, depth {s.depth}.",
        "Score networks run under `torch.no_grad()`; energy networks take −∇ₓE inside (scorelab: "
        "`score_from_energy`, which asks `EnergyMLP.score`, a hand-written backward pass with "
        "torch's fused SiLU derivative; hand-written and torchebm: `torch.autograd.grad`).",
        "torchebm: `LangevinDynamics(step_size=ε/2, noise_scale=1)`, the same update as scorelab's; "
        "score networks enter through an overridden `BaseModel.gradient`; annealed Langevin is one "
        "prebuilt sampler per σ with σ passed as `model_kwargs` (torchebm has no NCSN sampler).",
        "Ratios: scorelab's time over the other's (below 1: scorelab is faster), with the "
        "interquartile range of the paired per-repetition ratios.",
    ]
    md = harness.header("Samplers: throughput", info, notes)
    body = []
    for r in rows:
        res, work = r["results"], s.n_particles * cases.sampler_nfe(r["name"], s)
        body.append([r["label"], r["family"], r["d"]]
                    + [f"{work / res[i]['median_s']:,.0f}" if i in res else "—" for i in cases.IMPLS]
                    + [ratio_cell(res, "scorelab", "handwritten"), ratio_cell(res, "scorelab", "torchebm")])
    md += "\n" + harness.table(["sampler", "network", "d", "scorelab", "hand-written", "torchebm",
                                "scorelab / hand-written (time)", "scorelab / torchebm (time)"],
                               body, "llrrrrrr")
    md += "\n## Targets\n\n" + verdict_md(verdicts)
    return md


# ---------------------------------------------------------------- memory

def run_memory(mode: Mode, threads: int, log) -> list[dict]:
    specs = []
    setup = dataclasses.asdict(mode.setup)
    # A sampler's peak is one step's transient memory: 10 steps find it as well as 50 do.
    sampler_setup = {**setup, "n_steps": min(setup["n_steps"], setup["n_sigmas"])}
    for kind, table_ in (("objective", cases.OBJECTIVES), ("sampler", cases.SAMPLERS)):
        for name, (label, families, impls) in table_.items():
            if mode.memory_names is not None and name not in mode.memory_names:
                continue
            for family in families:
                for d in mode.memory_dims:
                    for impl in impls_here(impls, kind, family):
                        specs.append({"kind": kind, "name": name, "label": label, "family": family,
                                      "d": d, "impl": impl, "calls": 1,
                                      "setup": setup if kind == "objective" else sampler_setup})
    out = []
    for rec in memory_records(specs, threads):
        out.append(rec)
        what = rec["error"] if "error" in rec else f"{rec['growth_kib'] / 1024:.1f} MiB"
        log(f"memory {rec['label']:>24} {rec['family']:>6} d={rec['d']:<4} {rec['impl']:>11}: {what}")
    log(f"memory: {len(out)} cases")
    return out


def memory_records(specs: list, threads: int):
    """One record per case, as measured: on a GPU in this process (the CUDA allocator's
    peak), on the CPU in ``memory.py``'s forked children (resident-set growth)."""
    if cases.DEVICE.type == "cuda":
        import memory
        yield from map(memory.measure_cuda, specs)
        return
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump({"cases": specs, "threads": threads}, f)
    try:
        proc = subprocess.Popen([sys.executable, str(HERE / "memory.py"), f.name], stdout=subprocess.PIPE,
                                text=True)
        yield from map(json.loads, proc.stdout)
        proc.wait()
    finally:
        os.unlink(f.name)


MEMORY_HOW = {
    "cpu": "Peak resident-set growth (Linux VmHWM, reset through `/proc/self/clear_refs`) during one "
           "training step or one sampler call, over the resident set just before it, in a fresh "
           "forked process per case.",
    "gpu": "Peak of CUDA's caching allocator (`torch.cuda.max_memory_allocated`, reset before the "
           "call) during one training step or one sampler call, over what was allocated just before it.",
}
MEMORY_BASELINE = ("The case was run once before, so parameters, Adam state and data are in the "
                   "baseline: the number is the transient memory of the work (activations, autograd "
                   "graph, gradients, Jacobians, temporaries).")
MEMORY_RSS = ("malloc serves blocks ≥ 64 KiB by mmap, so freed tensors leave the resident set at "
              "once; page resolution (4 KiB).")


def memory_md(recs, info, mode) -> str:
    gpu = bool(info.get("gpu"))
    notes = [
        " ".join([MEMORY_HOW["gpu" if gpu else "cpu"], MEMORY_BASELINE] + ([] if gpu else [MEMORY_RSS])),
        f"Same sizes as the timing tables (batch {mode.setup.batch}, {mode.setup.n_particles} particles; "
        f"samplers run {min(mode.setup.n_steps, mode.setup.n_sigmas)} steps here, since the peak is one "
        "step's transient memory).",
    ]
    md = harness.header("Memory: peak transient memory (MiB)", info, notes)
    groups = {}
    for r in recs:
        groups.setdefault((r["kind"], r["label"], r["family"], r["d"]), {})[r["impl"]] = r
    body = []
    for (kind, label, family, d), g in groups.items():
        def mib(i):
            r = g.get(i)
            if r is None:
                return None
            return None if "error" in r else r["growth_kib"] / 1024
        cells = [f"{mib(i):.1f}" if mib(i) is not None else ("error" if i in g else "—") for i in cases.IMPLS]

        def over(a, b):
            return f"{mib(a) / mib(b):.2f}" if mib(a) and mib(b) else "—"
        body.append([kind, label, family, d] + cells + [over("scorelab", "handwritten"),
                                                        over("scorelab", "torchebm")])
    md += "\n" + harness.table(["kind", "case", "network", "d", "scorelab", "hand-written", "torchebm",
                                "scorelab / hand-written", "scorelab / torchebm"], body, "lllrrrrrr")
    return md


def time_part(part: str, kind: str, specs: dict, mode: Mode, argv: list, log) -> list[dict]:
    """Time one part in ``mode.processes`` fresh processes, one after another, and pool them.

    A process's memory layout can make one implementation a few per cent slower for the whole
    life of the process (seen: DSM on the score network at d = 256 was 1.09× hand-written in
    one process and 1.01× in the next, each with a tight interquartile range), so no single
    process decides a ratio: each worker runs every case with its share of the repetitions,
    and the samples are pooled (``harness.pool``; the paired ratios stay paired)."""
    if mode.processes == 1:
        return time_cases(kind, specs, mode, log)
    runs = []
    for p in range(mode.processes):
        log(f"{part}: process {p + 1} of {mode.processes}")
        fd, path = tempfile.mkstemp(suffix=".json")
        os.close(fd)
        try:
            subprocess.run([sys.executable, str(Path(__file__).resolve()), *argv, "--worker", part, path],
                           check=True)
            runs.append(json.loads(Path(path).read_text()))
        finally:
            os.unlink(path)
    return [{**rows[0], "results": {impl: harness.pool([r["results"][impl] for r in rows])
                                    for impl in rows[0]["results"]}}
            for rows in zip(*runs)]


# ---------------------------------------------------------------- main

# The timed parts, in order: part -> (kind of case, specs, verdicts of the rows, Markdown report).
TIMED_PARTS = {"objectives": ("objective", cases.OBJECTIVES, objective_verdicts, objectives_md),
               "samplers": ("sampler", cases.SAMPLERS, sampler_verdicts, samplers_md)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke run: fewer d, fewer repeats (< 1 min)")
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1: what scorelab trains MLPs with, training.threads=auto)")
    ap.add_argument("--only", nargs="+", choices=["objectives", "samplers", "memory", "hotspots"],
                    help="run only these parts")
    ap.add_argument("--dims", type=int, nargs="+", help="override the dimensions")
    ap.add_argument("--out", type=Path, help="results folder (default results/, results/quick/ with --quick)")
    ap.add_argument("--processes", type=int, help="split the timing over this many processes "
                    f"(default {FULL.processes}; quick {QUICK.processes})")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                    help="where to time (cuda: the gpu mode, written to results/gpu/; default cpu)")
    ap.add_argument("--worker", nargs=2, metavar=("PART", "JSON"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.device == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: CUDA is not available here")
    cases.DEVICE = torch.device(args.device)
    gpu = args.device == "cuda"
    mode = QUICK if args.quick else (GPU if gpu else FULL)
    if args.dims:
        mode = dataclasses.replace(mode, setup=dataclasses.replace(mode.setup, dims=tuple(args.dims)),
                                   memory_dims=tuple(d for d in mode.memory_dims if d in args.dims)
                                   or tuple(args.dims[:1]))
    if args.processes:
        mode = dataclasses.replace(mode, processes=max(1, args.processes))
    harness.prepare(args.threads)
    if args.worker:  # one process's share of a timed part (see time_part)
        part, path = args.worker
        kind, specs = TIMED_PARTS[part][:2]
        rows = time_cases(kind, specs, mode.per_process(), lambda m: print(f"  {m}", flush=True))
        Path(path).write_text(json.dumps(rows))
        return 0
    parts = args.only or ["objectives", "samplers", "memory"] + ([] if args.quick or gpu else ["hotspots"])
    out = args.out or (HERE / "results" / ("quick" if args.quick else "gpu" if gpu else ""))
    info = harness.machine(args.threads, {"mode": mode.name, "setup": dataclasses.asdict(mode.setup),
                                          "processes": mode.processes, "gpu": harness.gpu_info(cases.DEVICE)})
    start = time.perf_counter()

    def log(msg):
        print(f"[{time.perf_counter() - start:6.1f} s] {msg}", flush=True)

    if not peers.available():
        log("torchebm is not installed: its rows are skipped (pip install -c constraints.txt -e '.[bench]')")
    summary = {}
    worker_argv = list(argv if argv is not None else sys.argv[1:])
    for part, (kind, specs, judge, report) in TIMED_PARTS.items():
        if part in parts:
            rows = time_part(part, kind, specs, mode, worker_argv, log)
            summary[part] = verdicts = judge(rows)
            harness.write(out, part, report(rows, verdicts, info, mode),
                          {"machine": info, "rows": rows, "targets": verdicts})
    if "memory" in parts:
        recs = run_memory(mode, args.threads, log)
        harness.write(out, "memory", memory_md(recs, info, mode), {"machine": info, "cases": recs})
    if "hotspots" in parts:
        import hotspots
        hotspots.main(out, info, log, quick=args.quick)
    for part, verdicts in summary.items():
        for v in verdicts:
            status = "n/a" if v["met"] is None else ("met" if v["met"] else "MISSED")
            log(f"{part}: {v['target']}: {status}" + (f" ({len(v['misses'])} misses)" if v["misses"] else ""))
    if out == HERE / "results" and not args.dims:  # the full CPU run: its summary into README.md
        import summary
        summary.update_readme(out)
        log("benchmarks/README.md: summary rewritten")
    log(f"done; results in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
