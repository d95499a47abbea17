"""scorelab sample RUN -n N --out FILE"""
from pathlib import Path

from ..core.signals import Interrupted
from ..samplers.guidance import GUIDANCE_METHODS
from ..samplers.named import SAMPLERS, resolve
from ._common import (add_device, check_output, class_list, load_model, non_negative_float,
                      non_negative_int, positive_float, positive_int, progress_bar, write_samples)

HELP = "draw samples from a trained run into a .npy, .csv or .png file"


def add_arguments(p):
    p.add_argument("run", metavar="RUN", help="a run directory written by 'scorelab train'")
    p.add_argument("-n", type=positive_int, default=1000, help="number of samples (default: 1000)")
    p.add_argument("--out", required=True, metavar="FILE", help="output: .npy, .csv, or .png (image grid / 2-D scatter)")
    p.add_argument("--sampler", choices=SAMPLERS, default=None, help="sampler (default: the run's sampling.sampler, 'auto' = heun for noise-conditional models, langevin otherwise)")
    p.add_argument("--steps", type=positive_int, help="steps per level (annealed), Langevin steps, or ODE steps")
    p.add_argument("--step-size", type=positive_float, help="Langevin step size eps in data units squared (annealed: at the smallest sigma)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="random seed (default: 0)")
    p.add_argument("--batch-size", type=positive_int, default=1000,
                   help="samples drawn at a time; memory stays that of one batch (default: 1000)")
    p.add_argument("--class", dest="classes", metavar="K",
                   help="class-conditional runs: draw N samples of class K (a name or an index), of each "
                        "class of a comma-separated list K1,K2,..., or of every class (all), in that order")
    p.add_argument("--guidance", type=non_negative_float, default=None, metavar="W",
                   help="guidance strength (default: the run's sampling.guidance): classifier-free weight w, "
                        "or the classifier's scale with --guidance-method classifier")
    p.add_argument("--guidance-method", choices=GUIDANCE_METHODS, default="free",
                   help="free: classifier-free guidance (1 + w) s(x | y) - w s(x); classifier: s(x) + w grad "
                        "log p(y | x), with the classifier trained by training.classifier_steps (default: free)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    add_device(p)


def run(args) -> int:
    out = check_output(Path(args.out), args.force)
    model = load_model(args.run, args.device)
    sampler = args.sampler or model.run_.cfg.sampler
    y = class_list(args.classes, model.classes_, args.n)
    total = args.n if y is None else len(y)
    chunks = model.iter_samples(total, args.seed, sampler, batch_size=args.batch_size, steps=args.steps,
                                step_size=args.step_size, y=y, guidance=args.guidance,
                                guidance_method=args.guidance_method)
    nfe, done = [], [0]
    with progress_bar(total, "sampling", "sample", args.quiet) as bar:
        def counted():
            for x, info in chunks:
                nfe.append(info.nfe)
                done[0] += len(x)
                bar.update(len(x))
                yield x
        old = _inode(out)
        try:
            write_samples(out, counted(), total, model.data_shape_, args.force, model.preview_)
        except Interrupted as e:
            if _inode(out) not in (old, None):  # stopped after the rename: the file is complete
                raise Interrupted(e.signum, f"{e} after all {total} samples were written to {out}") from None
            raise Interrupted(e.signum, f"{e} after {done[0]} of {total} samples; nothing was written to "
                              f"{out} (it is written whole or not at all): rerun the command, the same "
                              "--seed gives the same samples") from None
    print(f"wrote {total} samples to {out} ({resolve(sampler, len(model.sigmas_))}, "
          f"{nfe[-1]} score evaluations per batch of up to {args.batch_size})")
    return 0


def _inode(path: Path):
    try:
        return path.stat().st_ino
    except FileNotFoundError:
        return None
