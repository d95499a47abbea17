"""Inpainting through the estimator and the CLI: known entries are kept exactly."""
import numpy as np
import torch

from scorelab import ScoreModel
from scorelab.cli import main


def test_inpaint_cli_keeps_known_entries(tmp_path):
    x = torch.randn(300, 3) @ torch.tensor([[1.0, 0.9, 0.0], [0.0, 0.4, 0.0], [0.0, 0.0, 1.0]])
    model = ScoreModel(steps=40, width=16, steps_per_level=3).fit(x)
    model.save(tmp_path / "run")
    known = x[:5].numpy()
    mask = np.ones_like(known)
    mask[:, 1] = 0
    np.save(tmp_path / "x.npy", known)
    np.save(tmp_path / "m.npy", mask)
    assert main(["inpaint", str(tmp_path / "run"), "--input", str(tmp_path / "x.npy"), "--mask",
                 str(tmp_path / "m.npy"), "--out", str(tmp_path / "o.npy")]) == 0
    out = np.load(tmp_path / "o.npy")
    assert np.array_equal(out[:, [0, 2]], known[:, [0, 2]])
    assert np.isfinite(out).all() and not np.array_equal(out[:, 1], known[:, 1])
    np.save(tmp_path / "bad.npy", np.full_like(known, 0.5))
    assert main(["inpaint", str(tmp_path / "run"), "--input", str(tmp_path / "x.npy"), "--mask",
                 str(tmp_path / "bad.npy"), "--out", str(tmp_path / "o2.npy")]) == 2
