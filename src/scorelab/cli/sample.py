"""scorelab sample RUN -n N --out FILE"""
from pathlib import Path

from ..core.signals import Interrupted
from ..samplers.named import SAMPLERS, resolve
from ._common import (add_device, check_output, load_model, non_negative_int, positive_float,
                      positive_int, progress_bar, write_samples)

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
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    add_device(p)


def run(args) -> int:
    out = check_output(Path(args.out), args.force)
    model = load_model(args.run, args.device)
    sampler = args.sampler or model.run_.cfg.sampler
    chunks = model.iter_samples(args.n, args.seed, sampler, batch_size=args.batch_size, steps=args.steps,
                                step_size=args.step_size)
    nfe, done = [], [0]
    with progress_bar(args.n, "sampling", "sample", args.quiet) as bar:
        def counted():
            for x, info in chunks:
                nfe.append(info.nfe)
                done[0] += len(x)
                bar.update(len(x))
                yield x
        old = _inode(out)
        try:
            write_samples(out, counted(), args.n, model.data_shape_, args.force, model.preview_)
        except Interrupted as e:
            if _inode(out) not in (old, None):  # stopped after the rename: the file is complete
                raise Interrupted(e.signum, f"{e} after all {args.n} samples were written to {out}") from None
            raise Interrupted(e.signum, f"{e} after {done[0]} of {args.n} samples; nothing was written to "
                              f"{out} (it is written whole or not at all): rerun the command, the same "
                              "--seed gives the same samples") from None
    print(f"wrote {args.n} samples to {out} ({resolve(sampler, len(model.sigmas_))}, "
          f"{nfe[-1]} score evaluations per batch of up to {args.batch_size})")
    return 0


def _inode(path: Path):
    try:
        return path.stat().st_ino
    except FileNotFoundError:
        return None
