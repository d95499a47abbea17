"""scorelab sample RUN -n N --out FILE"""
from pathlib import Path

from ..samplers.named import SAMPLERS, resolve
from ._common import (add_device, check_output, load_model, non_negative_int, positive_float,
                      positive_int, write_samples)

HELP = "draw samples from a trained run into a .npy, .csv or .png file"


def add_arguments(p):
    p.add_argument("run", metavar="RUN", help="a run directory written by 'scorelab train'")
    p.add_argument("-n", type=positive_int, default=1000, help="number of samples (default: 1000)")
    p.add_argument("--out", required=True, metavar="FILE", help="output: .npy, .csv, or .png (image grid / 2-D scatter)")
    p.add_argument("--sampler", choices=SAMPLERS, default=None, help="sampler (default: the run's sampling.sampler, 'auto' = heun for noise-conditional models, langevin otherwise)")
    p.add_argument("--steps", type=positive_int, help="steps per level (annealed), Langevin steps, or ODE steps")
    p.add_argument("--step-size", type=positive_float, help="Langevin step size eps in data units squared (annealed: at the smallest sigma)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="random seed (default: 0)")
    p.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    add_device(p)


def run(args) -> int:
    out = check_output(Path(args.out), args.force)
    model = load_model(args.run, args.device)
    sampler = args.sampler or model.sampler
    x, info = model.sample(args.n, random_state=args.seed, sampler=sampler, steps=args.steps,
                           step_size=args.step_size, return_info=True)
    write_samples(out, x, args.force, model.preview_)
    print(f"wrote {len(x)} samples to {out} ({resolve(sampler, len(model.sigmas_))}, {info.nfe} score evaluations)")
    return 0
