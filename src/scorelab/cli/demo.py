"""scorelab demo"""
from ._common import non_negative_int, positive_int
from ..experiments.demo import DEFAULTS

HELP = "the main job: train on the lecture's mixture, sample with plain and annealed Langevin, write runs/demo"


def add_arguments(p):
    p.add_argument("--out", default="runs/demo", help="output directory (default: runs/demo; its own previous demo is replaced)")
    p.add_argument("--steps", type=positive_int, default=DEFAULTS["steps"], help=f"training steps (default: {DEFAULTS['steps']})")
    p.add_argument("--n-samples", type=positive_int, default=DEFAULTS["n_samples"],
                   help=f"samples per seed and sampler (default: {DEFAULTS['n_samples']})")
    p.add_argument("--seeds", type=_seeds, default=DEFAULTS["seeds"],
                   help="comma-separated sampling seeds (default: " + ",".join(map(str, DEFAULTS["seeds"])) + ")")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _seeds(text: str) -> tuple:
    """Comma-separated non-negative integers."""
    return tuple(non_negative_int(s) for s in text.split(","))


def run(args) -> int:
    from ..experiments.demo import run_demo
    m = run_demo(args.out, steps=args.steps, n_samples=args.n_samples, seeds=args.seeds,
                 progress=False if args.quiet else None)
    print(f"\nfraction of samples in the (5, 5) mode (truth 0.80), per seed:")
    print(f"  plain Langevin    : {', '.join(f'{v:.3f}' for v in m['mode_55_fraction']['plain'])}  (mean {m['plain_mean']:.3f})")
    print(f"  annealed Langevin : {', '.join(f'{v:.3f}' for v in m['mode_55_fraction']['annealed'])}  (mean {m['annealed_mean']:.3f})")
    print(f"median relative Fisher divergence over {len(m['sigmas'])} noise levels: "
          f"{m['median_relative_fisher_divergence']:.4f}")
    print(f"done in {m['total_seconds']:.0f} s; open {args.out}/index.html (model: scorelab.load({args.out!r}))")
    return 0
