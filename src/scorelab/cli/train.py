"""scorelab train DATA --out RUN"""
from pathlib import Path

from ..training.config import OPTIONS
from ._common import add_device, non_negative_int

HELP = "train a score-based (or energy-based) model on DATA and write a run directory"
_SECTIONS = {}
for _name, _opt in OPTIONS.items():
    _SECTIONS.setdefault(_opt.section, []).append(
        f"  {_opt.section}.{_name} = {_opt.default!r}\n      {_opt.help}"
        + (f" [{'|'.join(_opt.choices)}]" if _opt.choices else ""))
EPILOG = ("DATA: a .npy/.npz/.csv/.tsv file, a folder of PNG/JPEG images, toy:NAME "
          "(lecture, eight_gaussians, rings, checkerboard, two_moons, swiss_roll, curve), digits or mnist.\n\n"
          "Configuration keys (set in --config FILE.toml under [section], or with --set section.key=value);"
          " defaults shown:\n" + "\n".join("\n".join(v) for v in _SECTIONS.values())
          + "\n\nExample: scorelab train data.csv --out runs/mine --set training.steps=5000")


def add_arguments(p):
    p.add_argument("data", metavar="DATA", help="the training data (see below)")
    p.add_argument("--out", required=True, metavar="RUN", help="run directory to write (checkpoints, metrics.jsonl, config.json)")
    p.add_argument("--labels", nargs="?", const=True, default=None, metavar="COLUMN",
                   help="train a class-conditional model: alone, on the labels DATA carries (digits, mnist, "
                        "a toy mixture's component, an image folder's sub-folders); with COLUMN, on that "
                        "column of a .csv/.tsv table (header name, or index from 0), taken out of the features")
    p.add_argument("--config", metavar="FILE.toml", help="a TOML file of [section] tables overriding the defaults")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override one configuration key, e.g. training.steps=5000 (repeatable; wins over --config)")
    p.add_argument("--seed", type=non_negative_int, help="random seed (same as --set training.seed=N)")
    p.add_argument("--resume", action="store_true", help="continue the run in RUN from its last checkpoint")
    p.add_argument("--force", action="store_true", help="overwrite an existing run directory")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_device(p, default=None, what="where to train (same as --set training.device=...)")


def run(args) -> int:
    from ..estimator import ScoreModel
    from ..training import parse_set, parse_toml

    values = parse_toml(args.config) if args.config else {}
    values.update(parse_set(args.set))
    if args.seed is not None:
        values["seed"] = args.seed
    if args.device is not None:
        values["device"] = args.device
    model = ScoreModel(**values).fit(args.data, y=args.labels, run_dir=Path(args.out), resume=args.resume,
                                     force=args.force, progress=False if args.quiet else None)
    last = model.history_[-1] if model.history_ else {}
    held = f", held-out loss {last['heldout']:.4g}" if "heldout" in last else ""
    data = model.run_.data
    classes = f", {len(model.classes_)} classes" if model.classes_ else ""
    print(f"trained {model.run_.cfg.steps} steps on {data['name']} ({data['n_train'] + data['n_holdout']} "
          f"samples, shape {model.data_shape_}{classes}){held}; {len(model.sigmas_)} noise levels; "
          f"run saved to {args.out}")
    return 0
