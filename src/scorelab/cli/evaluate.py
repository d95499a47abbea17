"""scorelab eval RUN --data DATA"""
import json

from ._common import add_device, load_model, non_negative_int

HELP = ("evaluate a run on held-out data: denoising loss per sigma, energy distance vs the floor, NLL for "
        "energies; for digits and MNIST runs the Frechet distance vs its floor and the class fractions")


def add_arguments(p):
    p.add_argument("run", metavar="RUN", help="a run directory written by 'scorelab train'")
    p.add_argument("--data", required=True, metavar="DATA", help="held-out data (same formats as 'scorelab train')")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    p.add_argument("--sampler", default=None, help="sampler for the sample-quality metrics (default: the run's)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="random seed (default: 0)")
    add_device(p)


def run(args) -> int:
    from ..data import load_data
    from ..evaluation.report import evaluate
    model = load_model(args.run, args.device)
    size = None if model.image_size == "auto" else model.image_size
    data = load_data(args.data, image_size=size, seed=args.seed)
    metrics = evaluate(model, data.x, seed=args.seed, sampler=args.sampler)
    if args.json:
        print(json.dumps(metrics, indent=2, sort_keys=True))
        return 0
    for key, value in metrics.items():
        if isinstance(value, dict):
            print(f"{key}:")
            for k, v in value.items():
                print(f"  sigma={k:>10}  {v:.5g}")
        elif isinstance(value, list):
            print(f"{key:>24}  " + " ".join(f"{v:.3g}" for v in value))
        else:
            print(f"{key:>24}  {value:.5g}" if isinstance(value, float) else f"{key:>24}  {value}")
    return 0
