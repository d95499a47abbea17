"""``sliced-vs-exact``: exact score matching costs O(d) backward passes, its alternatives O(1).

Exact score matching needs tr(∇ₓs(x)), the sum of the d diagonal entries of the Jacobian of
the score network: d vector-Jacobian products per step (``method="loop"``: d backward passes;
``"vmap"``: the same d products batched into one vectorised pass, which saves Python
overhead, not arithmetic). Sliced score matching replaces the trace by vᵀ∇ₓ(vᵀs) for one
random direction v (one product), with or without variance reduction; denoising score
matching needs no derivative of s at all. Each method trains the same ``ScoreMLP``
(width 128, depth 3, batch 256, N(0, I) data) and one training step (forward, backward,
Adam step) is timed as the median of several repeats after warm-up, for each dimension d.
"""
from pathlib import Path

import torch

from ..nn import ScoreMLP
from ..objectives import denoising_score_matching, exact_score_matching, sliced_score_matching
from ._common import generator, new_figure, save_figure, time_call

DESCRIPTION = "Time per training step vs dimension for exact, sliced and denoising score matching."
CLAIM = ("Exact score matching's Jacobian trace costs d backward passes per step; sliced and "
         "denoising score matching grow little with dimension.")

WIDTH, DEPTH, BATCH = 128, 3, 256
DSM_SIGMA = 0.1
METHODS = {
    "esm_loop": lambda model, x, g: exact_score_matching(model, x, method="loop"),
    "esm_vmap": lambda model, x, g: exact_score_matching(model, x, method="vmap"),
    "ssm": lambda model, x, g: sliced_score_matching(model, x, generator=g),
    "ssm_vr": lambda model, x, g: sliced_score_matching(model, x, variance_reduction=True, generator=g),
    "dsm": lambda model, x, g: denoising_score_matching(model, x, DSM_SIGMA, generator=g),
}
LABELS = {"esm_loop": "exact (d backward passes)", "esm_vmap": "exact (vmap, batched VJPs)",
          "ssm": "sliced", "ssm_vr": "sliced, variance-reduced", "dsm": "denoising"}
FULL = {"dims": (2, 8, 32, 128), "repeats": 25, "warmup": 3}
QUICK = {"dims": (2, 8), "repeats": 5, "warmup": 1}


def time_training_step(method: str, dim: int, seed: int, repeats: int, warmup: int) -> dict:
    """Median seconds of one training step (loss, backward, Adam step) of ``method`` in dimension ``dim``."""
    g = generator(seed, method, dim)
    with torch.random.fork_rng(devices=[]):  # seed the network's initialisation, leave the global RNG alone
        torch.manual_seed(int(torch.randint(2**31, (1,), generator=g)))
        model = ScoreMLP(dim, WIDTH, DEPTH)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    x = torch.randn(BATCH, dim, generator=g)
    objective = METHODS[method]

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = objective(model, x, g)
        loss.backward()
        optimizer.step()

    return time_call(step, repeats=repeats, warmup=warmup)


def _plot(table: dict, dims, path: Path) -> None:
    fig, axes = new_figure(size=5.0)
    ax = axes[0, 0]
    for method, row in table.items():
        ax.plot(dims, [1e3 * row[str(d)] for d in dims], marker="o", label=LABELS[method])
    first = 1e3 * table["esm_loop"][str(dims[0])]
    ax.plot(dims, [first * d / dims[0] for d in dims], color="0.5", ls=":", label="∝ d (guide)")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("dimension d")
    ax.set_ylabel("time per training step [ms] (median)")
    ax.set_title(f"ScoreMLP (width {WIDTH}, depth {DEPTH}), batch {BATCH}, "
                 f"{torch.get_num_threads()} thread(s)", fontsize=9)
    ax.legend(fontsize=8)
    save_figure(fig, path)


def run(out_dir: Path, quick: bool = False, seed: int = 0) -> dict:
    """Time every method at every dimension; plot ``sliced_vs_exact.png``."""
    cfg = QUICK if quick else FULL
    dims = cfg["dims"]
    table, spread = {}, {}
    for method in METHODS:
        timings = {str(d): time_training_step(method, d, seed, cfg["repeats"], cfg["warmup"]) for d in dims}
        table[method] = {d: t["median"] for d, t in timings.items()}
        spread[method] = {d: t["min"] for d, t in timings.items()}
    lo, hi = str(dims[0]), str(dims[-1])
    growth = {method: row[hi] / row[lo] for method, row in table.items()}
    _plot(table, dims, Path(out_dir) / "sliced_vs_exact.png")
    return {
        "seconds_per_step": table,  # method -> {d: median seconds}
        "seconds_per_step_min": spread,
        "growth_ratio": growth,  # time(d_max) / time(d_min)
        "growth_ratio_dims": [dims[0], dims[-1]],
        "dims": list(dims),
        "repeats": cfg["repeats"],
        "warmup": cfg["warmup"],
        "model": {"width": WIDTH, "depth": DEPTH, "batch": BATCH, "dsm_sigma": DSM_SIGMA},
        "exact_grows_faster_than_sliced": min(growth["esm_loop"], growth["esm_vmap"]) > max(
            growth["ssm"], growth["ssm_vr"], growth["dsm"]),
    }
