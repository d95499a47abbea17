"""scorelab inpaint RUN --input FILE --mask FILE --out FILE"""
from pathlib import Path

from ._common import add_device, check_output, load_model, non_negative_int

HELP = "fill the masked entries of samples (mask 0 = unknown, 1 = known) consistently with the rest"


def add_arguments(p):
    p.add_argument("run", metavar="RUN", help="a run directory of a noise-conditional model")
    p.add_argument("--input", required=True, metavar="FILE", help="samples to complete (.npy, or any DATA format)")
    p.add_argument("--mask", required=True, metavar="FILE", help="same shape (or broadcastable), 1 = keep, 0 = fill")
    p.add_argument("--out", required=True, metavar="FILE", help="output .npy, .csv or .png")
    p.add_argument("--seed", type=non_negative_int, default=0, help="random seed (default: 0)")
    p.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    add_device(p)


def run(args) -> int:
    import torch

    from ..data import load_data, save_array
    out = check_output(Path(args.out), args.force, (".npy", ".csv", ".png"))
    model = load_model(args.run, args.device)
    x = load_data(args.input).x
    mask = load_data(args.mask).x
    if x.shape[1:] != model.data_shape_:
        raise ValueError(f"{args.input}: shape {tuple(x.shape[1:])} does not match the run's {model.data_shape_}")
    try:
        mask = torch.broadcast_to(mask, x.shape)
    except RuntimeError:
        raise ValueError(f"{args.mask}: shape {tuple(mask.shape)} cannot broadcast to {tuple(x.shape)}") from None
    if not torch.all((mask == 0) | (mask == 1)):
        raise ValueError(f"{args.mask}: a mask holds only 0 (fill) and 1 (keep)")
    filled = model.inpaint(x, mask, random_state=args.seed)
    if out.suffix.lower() == ".png":
        from ..viz import save_image_grid, save_scatter
        save_image_grid(out, filled) if filled.ndim == 4 else save_scatter(out, filled)
    else:
        save_array(out, filled.reshape(len(filled), -1) if out.suffix.lower() == ".csv" else filled, overwrite=args.force)
    print(f"wrote {len(filled)} completed samples to {out}")
    return 0
