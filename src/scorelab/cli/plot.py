"""scorelab plot RUN"""
from pathlib import Path

from ._common import add_device, load_model

HELP = "plot a run: samples over the data; for 2-D data the score field (and the learned density of an energy model)"


def add_arguments(p):
    p.add_argument("run", metavar="RUN", help="a run directory written by 'scorelab train'")
    p.add_argument("--out", metavar="DIR", help="where to write the PNGs (default: RUN/plots)")
    add_device(p)


def run(args) -> int:
    from ..viz import save_run_plots
    model = load_model(args.run, args.device)
    paths = save_run_plots(model, model.preview_, Path(args.out or Path(args.run) / "plots"))
    for path in paths:
        print(path)
    return 0
