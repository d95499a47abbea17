"""Where scorelab's time goes: each of its derivative tricks timed against what it replaced.

Each experiment times scorelab as it is ("now") against the "before" versions of its fixes
(the energy score by ``torch.func.grad`` in ``prototypes.py``; the exact trace with all d
products in one batch, ``handwritten.exact_batched``) and the hand-written baseline,
interleaved in one process. Both the median and the minimum over the repetitions are
reported: on a shared machine the minimum is the steadier estimate of the intrinsic cost.
Before timing, each variant is checked to compute the same loss (and the same parameter
gradients) as scorelab.

    python benchmarks/hotspots.py [--quick] [--threads 1]     # or: run.py --only hotspots
"""
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import torch  # noqa: E402

import cases  # noqa: E402
import handwritten as hw  # noqa: E402
import harness  # noqa: E402
import peers  # noqa: E402
import prototypes as proto  # noqa: E402
from scorelab import objectives as sl  # noqa: E402
from scorelab.nn import score_from_energy  # noqa: E402


S = cases.Setup()   # the sizes and constants of the main tables: batch, σ of DSM, Langevin steps


def _step(net, loss_fn):
    def step():
        net.zero_grad(set_to_none=True)
        loss_fn().backward()
    return step


def _gen():
    return torch.Generator().manual_seed(0)


def _same(fns: dict, net, atol=1e-4) -> bool:
    """Do the loss closures agree in value and parameter gradients (same seeds)?"""
    ref = None
    for make in fns.values():
        loss = make()
        params = [p for p in net.parameters()]
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        flat = torch.cat([(g if g is not None else torch.zeros_like(p)).flatten() for g, p in zip(grads, params)])
        if ref is None:
            ref = (loss.item(), flat)
        elif abs(loss.item() - ref[0]) > atol * (1 + abs(ref[0])) or not torch.allclose(flat, ref[1], atol=atol, rtol=1e-3):
            return False
    return True


def energy_score(quick):
    """An energy network's score: ``torch.func.grad`` (scorelab's EnergyScore at first), then
    ``torch.autograd.grad``, and now the network's own hand-written gradient (``EnergyMLP.score``:
    a first-order graph in training, torch's fused SiLU derivative and no graph under no_grad)
    and, for sliced SM, its forward-mode second directional derivative (``directional_derivatives``;
    for SSM-VR, which needs the score too, read off the score's backward pass). ``score_from_energy(net.forward)`` is the autograd-only EnergyScore
    (a bare function has neither method)."""
    for d in (2, 64) if not quick else (2,):
        net = cases.network("energy", d, S)
        x = torch.randn(S.n_particles, d)
        func, autograd, now = proto.FuncGradEnergyScore(net.forward), score_from_energy(net.forward), score_from_energy(net)
        hand_nograd, hand_graph = hw.score_of_energy(net, False), hw.score_of_energy(net, True)
        fns = {"before: torch.func.grad": cases.no_grad(lambda: func(x)),
               "before: autograd.grad": cases.no_grad(lambda: autograd(x)),
               "now: EnergyMLP.score": cases.no_grad(lambda: now(x)),
               "hand-written": cases.no_grad(lambda: hand_nograd(x, None))}
        yield (f"score call under no_grad, {S.n_particles} points", d, fns, None)
        xb = torch.randn(S.batch, d)
        common = {"before: torch.func.grad": func, "before: autograd.grad": autograd}
        for label, loss, hand, peer, extra in (
                ("DSM", lambda sc, g: sl.denoising_score_matching(sc, xb, S.dsm_sigma, generator=g),
                 lambda g: hw.dsm(hand_graph, xb, S.dsm_sigma, g), lambda m: peers.dsm_loss(m, S.dsm_sigma), {}),
                ("sliced SM", lambda sc, g: sl.sliced_score_matching(sc, xb, generator=g),
                 lambda g: hw.sliced(hand_graph, xb, g), peers.sliced_loss, {}),
                ("sliced SM-VR", lambda sc, g: sl.sliced_score_matching(sc, xb, variance_reduction=True, generator=g),
                 lambda g: hw.sliced(hand_graph, xb, g, variance_reduction=True), None, {})):
            variants = {**common, **extra, "now: EnergyMLP's own derivatives": now}
            check = {n: (lambda sc=sc: loss(sc, _gen())) for n, sc in variants.items()}
            g = [_gen() for _ in range(len(variants) + 2)]
            fns = {n: _step(net, lambda sc=sc, gi=gi: loss(sc, gi)) for (n, sc), gi in zip(variants.items(), g)}
            fns["hand-written"] = _step(net, lambda: hand(g[-2]))
            if peer is not None and peers.available():
                te = peer(peers.energy_model(net))
                fns["torchebm"] = _step(net, lambda te=te: te(xb, generator=g[-1]))
            yield (f"{label} loss + backward, batch {S.batch}", d, fns, _same(check, net))


def exact_trace(quick):
    """Ways to get tr(∇ₓs) for exact score matching, one training step (loss + backward). The
    reference is scorelab before the chunked trace: all d products in one batch and, for energy
    networks, the torch.func.grad energy score, which the loop and the first chunked variant
    use. The last, ``method="forward"`` (opt-in; the default is still the chunked vmap), needs
    no backward pass for the trace: the d basis vectors go through the network as tangents."""
    dims = (2, 4, 16, 64, 256) if not quick else (2, 4)
    for family in ("score", "energy"):
        for d in dims:
            net = cases.network(family, d, S)
            x = torch.randn(S.batch, d)
            score = net if family == "score" else proto.FuncGradEnergyScore(net)
            variants = {
                "before: vmap (is_grads_batched, all d at once)": lambda: hw.exact_batched(score, x),
                "loop": lambda: sl.exact_score_matching(score, x, method="loop"),
                "is_grads_batched in chunks of 16": lambda: sl.exact_score_matching(score, x, method="vmap"),
            }
            own = net if family == "score" else score_from_energy(net)
            if family == "energy":
                auto = score_from_energy(net.forward)
                variants["chunks of 16 + autograd energy score"] = lambda: sl.exact_score_matching(auto, x, method="vmap")
                variants["chunks of 16 + EnergyMLP.score"] = lambda: sl.exact_score_matching(own, x, method="vmap")
            variants["forward mode (score_and_trace)"] = lambda: sl.exact_score_matching(own, x, method="forward")
            same = _same(variants, net)
            fns = {name: _step(net, f) for name, f in variants.items()}
            yield (f"exact SM loss + backward, {family} net, batch {S.batch}", d, fns, same)


def sliced_vs_dsm(quick):
    """Sliced SM against DSM on a score network: the directional derivative vᵀ∇ₓ(vᵀs) by reverse
    over reverse (a backward pass with ``create_graph``, then a second-order backward: scorelab
    before, and the hand-written loss) and by forward mode (one pass carrying the tangent v
    through the network, ``ScoreMLP.directional_derivatives``: a first-order graph; scorelab now)."""
    for d in (2, 64, 256) if not quick else (2,):
        net = cases.network("score", d, S)
        x = torch.randn(S.batch, d)
        g = [_gen() for _ in range(5)]
        fns = {"DSM": _step(net, lambda: sl.denoising_score_matching(net, x, S.dsm_sigma, generator=g[0])),
               "sliced SM, now: forward mode": _step(net, lambda: sl.sliced_score_matching(net, x, generator=g[1])),
               "sliced SM, before: reverse over reverse": _step(
                   net, lambda: sl.sliced_score_matching(net, x, generator=g[2], method="hvp")),
               "sliced SM, hand-written": _step(net, lambda: hw.sliced(net, x, g[3])),
               "finite-difference SSM (approximation)": _step(
                   net, lambda: sl.sliced_score_matching(net, x, generator=g[4], method="finite_difference"))}
        yield (f"score net, batch {S.batch} (loss + backward)", d, fns, None)


def _op_counts():
    """aten ops and matrix products per training step (profiler), DSM vs sliced SM."""
    from torch.profiler import ProfilerActivity, profile
    net = cases.network("score", 16, S)
    x = torch.randn(S.batch, 16)
    out = {}
    for name, f in (("DSM", lambda: sl.denoising_score_matching(net, x, S.dsm_sigma)),
                    ("sliced SM, forward mode", lambda: sl.sliced_score_matching(net, x)),
                    ("sliced SM, reverse over reverse", lambda: sl.sliced_score_matching(net, x, method="hvp"))):
        _step(net, f)()
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            _step(net, f)()
        ev = prof.key_averages()
        out[name] = {"aten_ops": sum(e.count for e in ev if e.key.startswith("aten::")),
                     "matmuls": sum(e.count for e in ev if e.key in ("aten::mm", "aten::addmm", "aten::bmm"))}
    return out


EXPERIMENTS = (
    ("Energy score: `torch.func.grad`, `torch.autograd.grad`, the network's own derivatives", energy_score),
    ("Exact score matching: computing the trace", exact_trace),
    ("Sliced SM against DSM", sliced_vs_dsm),
)


def main(out: Path, info: dict, log, quick: bool = False) -> dict:
    repeats, budget = (5, 0.3) if quick else (25, 4.0)
    sections = []
    for title, exp in EXPERIMENTS:
        done = []
        # Each row is timed as soon as it is made: its closures read the loop's variables.
        for label, d, fns, same in exp(quick):
            res = harness.interleaved(fns, repeats=repeats, warmup=2, min_block_s=0.05 if not quick else 0.01,
                                      budget_s=budget)
            ref = next(iter(res.values()))
            log(f"hotspots {label} d={d}: " + "  ".join(
                f"{n}={harness.fmt_time(r['median_s'])}" for n, r in res.items()))
            done.append({"case": label, "d": d, "same_result": same, "ref": next(iter(res)), "results": res,
                         "gain_vs_ref_min": {n: ref["min_s"] / r["min_s"] for n, r in res.items()},
                         "gain_vs_ref_cpu": {n: ref["cpu_median_s"] / r["cpu_median_s"] for n, r in res.items()}})
        sections.append({"title": title, "doc": (exp.__doc__ or "").strip(), "rows": done})
    counts = _op_counts() if not quick else None
    payload = {"machine": info, "sections": sections, "op_counts": counts}
    harness.write(out, "hotspots", hotspots_md(sections, counts, info), payload)
    return payload


def hotspots_md(sections, counts, info) -> str:
    notes = ["Each row: one case, every variant timed interleaved in one process: wall-clock "
             "`median` and `min` (the fastest repetition) per call, and `CPU` the median process CPU "
             "time per call (all threads; steadier than wall time when other processes compete for "
             "the cores). `speed-up` is the first variant's time over this variant's (scorelab now, or "
             "`before:` scorelab before a fix that has since landed), "
             "from the wall-clock minima and from the CPU medians.",
             "`same result`: the variants give the same loss and parameter gradients (checked "
             "before timing, same seeds); blank where not applicable.",
             "The `before:` versions are in `benchmarks/prototypes.py`, except the exact "
             "trace's (all d at once), which is `benchmarks/handwritten.py`'s `exact_batched`."]
    md = harness.header("Hotspots: scorelab's derivative tricks against what they replaced", info, notes)
    for s in sections:
        md += f"\n## {s['title']}\n\n"
        if s["doc"]:
            md += " ".join(s["doc"].split()) + "\n\n"
        body = []
        for r in s["rows"]:
            for i, (n, res) in enumerate(r["results"].items()):
                same = "" if r["same_result"] is None else ("yes" if r["same_result"] else "**no**")
                body.append([r["case"] if i == 0 else "", r["d"] if i == 0 else "", n,
                             harness.fmt_time(res["median_s"]), harness.fmt_time(res["min_s"]),
                             harness.fmt_time(res["cpu_median_s"]),
                             f"{r['gain_vs_ref_min'][n]:.2f}× / {r['gain_vs_ref_cpu'][n]:.2f}×",
                             same if i == 0 else ""])
        md += harness.table(["case", "d", "variant", "median", "min", "CPU", "speed-up (min / CPU)",
                             "same result"], body, "lrlrrrrl")
    if counts:
        md += f"\n## Operation counts (profiler, score net d = 16, batch {S.batch}, one step)\n\n"
        md += harness.table(["objective", "aten ops", "matrix products"],
                            [[k, v["aten_ops"], v["matmuls"]] for k, v in counts.items()])
    return md


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1, as run.py)")
    ap.add_argument("--out", type=Path, default=HERE / "results")
    args = ap.parse_args()
    harness.prepare(args.threads)
    t0 = time.perf_counter()
    main(args.out, harness.machine(args.threads, {"mode": "quick" if args.quick else "full"}),
         lambda m: print(f"[{time.perf_counter() - t0:6.1f} s] {m}", flush=True), quick=args.quick)
