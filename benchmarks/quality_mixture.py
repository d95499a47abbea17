"""Issue 3's quality bar, measured: the CLI's defaults on a 3-component 2-D mixture.

    .venv/bin/python benchmarks/quality_mixture.py [--out DIR] [--set training.steps=12000 ...]

Trains `scorelab train data.csv --out RUN` with every default, samples 3000 points with the
default sampler (heun) and with annealed Langevin, and prints the mixture weights and the
energy distance to fresh data next to the floor (mean over 5 pairs of fresh data sets).
"""
import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from scorelab.cli import main
from scorelab.distributions import GaussianMixture
from scorelab.evaluation.metrics import energy_distance, mode_fractions


def measure(out: Path, extra=()) -> dict:
    gm = GaussianMixture([[0.0, 0.0], [4.0, 4.0], [-4.0, 4.0]], [0.6, 0.3, 0.1], stds=[0.5, 0.7, 0.5])
    g = torch.Generator().manual_seed(0)
    np.savetxt(out / "data.csv", gm.sample(3000, g).numpy(), delimiter=",")
    start = time.perf_counter()
    assert main(["train", str(out / "data.csv"), "--out", str(out / "run"), "--quiet", "--force", *extra]) == 0
    result = {"train_seconds": time.perf_counter() - start, "true_weights": [0.6, 0.3, 0.1]}
    floor = [energy_distance(gm.sample(3000, g), gm.sample(3000, g)) for _ in range(5)]
    result["energy_distance_floor"] = sum(floor) / len(floor)
    for sampler in ("auto", "annealed"):
        start = time.perf_counter()
        path = out / f"samples_{sampler}.npy"
        assert main(["sample", str(out / "run"), "-n", "3000", "--out", str(path), "--seed", "1",
                     "--sampler", sampler, "--force"]) == 0
        x = torch.from_numpy(np.load(path))
        result[sampler] = {"seconds": time.perf_counter() - start,
                           "weights": mode_fractions(x, gm.means).tolist(),
                           "energy_distance": energy_distance(x, gm.sample(3000, g))}
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a training option to change from its default (as in scorelab train)")
    args = parser.parse_args()
    out = Path(args.out or tempfile.mkdtemp())
    out.mkdir(parents=True, exist_ok=True)
    print(json.dumps(measure(out, [a for kv in args.set for a in ("--set", kv)]), indent=2))
