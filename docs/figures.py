"""Copy the figures of a ``make docs`` run into ``docs/images/`` under the names the pages use.

    python docs/figures.py runs/docs        # after: scorelab demo --out runs/docs/demo
                                            #        scorelab experiment --all --out runs/docs/experiments

The demo's figures become ``demo_NAME.png``, the digits and mnist experiments' ``digits_NAME.png`` and ``mnist_NAME.png``, and
every other experiment's keep their names (``ebm-training-5-seeds`` and ``sde-likelihood`` repeat
``ebm-training``'s and ``sde``'s figures and are skipped).
"""
import shutil
import sys
from pathlib import Path

IMAGES = Path(__file__).resolve().parent / "images"
PREFIX = {"digits": "digits_", "mnist": "mnist_", "guidance": "guidance_digits_", "guidance-mnist": "guidance_mnist_"}
SKIP = {"ebm-training-5-seeds", "sde-likelihood"}


def copy_figures(root: Path) -> list[Path]:
    copied = [shutil.copy(p, IMAGES / f"demo_{p.name}") for p in sorted((root / "demo").glob("*.png"))]
    for folder in sorted((root / "experiments").iterdir()):
        if folder.is_dir() and folder.name not in SKIP:
            copied += [shutil.copy(p, IMAGES / f"{PREFIX.get(folder.name, '')}{p.name}")
                       for p in sorted(folder.glob("*.png"))]
    return [Path(p) for p in copied]


if __name__ == "__main__":
    for path in copy_figures(Path(sys.argv[1] if len(sys.argv) > 1 else "runs/docs")):
        print(path)
