"""``scorelab experiment sde`` in quick mode: every model is judged at 35 NFE by both samplers,
on both datasets, with bits/dim and the paired likelihood-weighting effect; one figure per SDE."""
import math

from conftest import run_quick_experiment
from scorelab.experiments import EXPERIMENTS


def test_sde_experiment_judges_every_model_at_35_nfe(tmp_path):
    m = run_quick_experiment("sde", tmp_path, "sde_vp.png")
    assert m["figures"] == ["sde_ve.png", "sde_vp.png", "sde_subvp.png"]
    for data, key in (("lecture", "energy_distance"), ("digits", "fd")):
        rows = m[data]["rows"]
        assert set(rows) == {"ve", "vp", "vp-likelihood"}
        for row in rows.values():
            assert row["heun"]["nfe"] == row["ddim"]["nfe"] == 35
            assert row["heun"][key] >= 0 and math.isfinite(row["bits_per_dim"]) and row["bits_per_dim_se"] >= 0
    effect = m["digits"]["likelihood_weighting_effect"]["vp"]
    assert effect["n_images"] == 2 and effect["se"] >= 0
    assert EXPERIMENTS["sde-likelihood"].options["models"] == ("vp", "vp-likelihood")
