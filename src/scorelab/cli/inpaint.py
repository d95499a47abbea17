"""scorelab inpaint RUN --input FILE --mask FILE --out FILE"""
from pathlib import Path

from ._common import add_device, check_output, load_model, non_negative_float, non_negative_int, write_samples

HELP = "fill the masked entries of samples (mask 0 = unknown, 1 = known) consistently with the rest"


def add_arguments(p):
    p.add_argument("run", metavar="RUN", help="a run directory of a noise-conditional model")
    p.add_argument("--input", required=True, metavar="FILE", help="samples to complete (.npy, or any DATA format)")
    p.add_argument("--mask", required=True, metavar="FILE", help="same shape (or broadcastable), 1 = keep, 0 = fill")
    p.add_argument("--out", required=True, metavar="FILE", help="output .npy, .csv or .png")
    p.add_argument("--class", dest="classes", metavar="K",
                   help="class-conditional runs: fill every sample as class K (a name or an index)")
    p.add_argument("--guidance", type=non_negative_float, default=None, metavar="W",
                   help="classifier-free guidance weight with --class (default: the run's sampling.guidance)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="random seed (default: 0)")
    p.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    add_device(p)


def run(args) -> int:
    from ..data import load_data
    out = check_output(Path(args.out), args.force)
    model = load_model(args.run, args.device)
    if args.classes is not None and not model.classes_:
        raise ValueError("--class: this run was trained without labels (scorelab train ... --labels)")
    filled = model.inpaint(load_data(args.input).x, load_data(args.mask).x, random_state=args.seed,
                           y=args.classes, guidance=args.guidance)
    write_samples(out, [filled], len(filled), tuple(filled.shape[1:]), args.force)
    print(f"wrote {len(filled)} completed samples to {out}")
    return 0
