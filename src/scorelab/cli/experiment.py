"""scorelab experiment NAME"""
from ._common import non_negative_int

HELP = "run one of the lecture's experiments (figures and metrics.json in runs/experiments/NAME)"


def add_arguments(p):
    p.add_argument("name", nargs="?", metavar="NAME", help="experiment name (see --list)")
    p.add_argument("--list", action="store_true", help="list the experiments and the claim each shows")
    p.add_argument("--all", action="store_true", help="run every experiment")
    p.add_argument("--quick", action="store_true", help="a shortened run (seconds)")
    p.add_argument("--out", default="runs/experiments", help="output root (default: runs/experiments)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="random seed (default: 0)")


def run(args) -> int:
    from ..experiments import EXPERIMENTS, list_experiments, run_experiment
    if args.list:
        for e in list_experiments():
            print(f"{e['name']:>16}  {e['description']}\n{'':>16}  claim: {e['claim']}")
        return 0
    names = list(EXPERIMENTS) if args.all else [args.name]
    if names == [None]:
        raise ValueError("give an experiment NAME, --all or --list")
    for name in names:
        metrics = run_experiment(name, args.out, quick=args.quick, seed=args.seed)
        for line in EXPERIMENTS[name].summary(metrics):
            print(f"  {line}")
        print(f"{name}: wrote {args.out}/{name}/ in {metrics['run']['seconds']:.0f} s")
    return 0
