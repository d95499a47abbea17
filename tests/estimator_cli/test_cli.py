"""The command line: a round trip, resume equivalence, and every bad input ends in one line."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import assert_same_checkpoint, fails_in_one_line
from scorelab.cli import main
from scorelab.distributions import GaussianMixture

QUICK = ["--set", "training.steps=60", "--set", "training.eval_every=30", "--set", "training.checkpoint_every=30",
         "--set", "model.width=32", "--set", "sampling.steps_per_level=5", "--quiet"]


@pytest.fixture(scope="module")
def csv_file(tmp_path_factory):
    gm = GaussianMixture([[0.0, 0.0], [4.0, 4.0]], [0.7, 0.3], stds=[0.5, 0.5])
    x = gm.sample(600, generator=torch.Generator().manual_seed(0)).numpy()
    path = tmp_path_factory.mktemp("data") / "points.csv"
    np.savetxt(path, x, delimiter=",", header="a,b", comments="")
    return path


@pytest.fixture(scope="module")
def trained_run(tiny_run, csv_file):
    return tiny_run(csv_file, QUICK)


def test_round_trip_train_sample_eval(trained_run, csv_file, tmp_path, capsys):
    for name in ("config.json", "checkpoint.safetensors", "metrics.jsonl"):
        assert (trained_run / name).exists()
    records = [json.loads(line) for line in (trained_run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [30, 60] and all("heldout" in r for r in records)
    for ext in ("npy", "csv", "png"):
        out = tmp_path / f"s.{ext}"
        assert main(["sample", str(trained_run), "-n", "50", "--out", str(out), "--steps", "3"]) == 0
        assert out.stat().st_size > 0
    x = np.load(tmp_path / "s.npy")
    assert x.shape == (50, 2) and np.isfinite(x).all()
    assert np.loadtxt(tmp_path / "s.csv", delimiter=",").shape == (50, 2)
    capsys.readouterr()
    assert main(["eval", str(trained_run), "--data", str(csv_file), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert len(metrics["denoising_loss_per_sigma"]) >= 2
    assert metrics["energy_distance"] >= 0 and metrics["energy_distance_floor"] >= 0
    assert main(["plot", str(trained_run), "--out", str(tmp_path / "plots")]) == 0
    assert (tmp_path / "plots" / "samples.png").exists()


def test_same_seed_same_samples(trained_run, tmp_path):
    for name in ("a", "b"):
        main(["sample", str(trained_run), "-n", "20", "--out", str(tmp_path / f"{name}.npy"), "--steps", "2", "--seed", "3"])
    assert np.array_equal(np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy"))


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(trained_run, csv_file, tmp_path, monkeypatch):
    from scorelab.training import loop
    full, cut = trained_run, tmp_path / "cut"  # the module's run is the uninterrupted one
    real_step = loop._optimisation_step

    def crash_at_45(state, *args):
        if state.step == 45:
            raise KeyboardInterrupt
        return real_step(state, *args)

    monkeypatch.setattr(loop, "_optimisation_step", crash_at_45)
    assert main(["train", str(csv_file), "--out", str(cut), *QUICK]) == 130
    monkeypatch.setattr(loop, "_optimisation_step", real_step)
    assert main(["train", str(csv_file), "--out", str(cut), "--resume", *QUICK]) == 0
    assert_same_checkpoint(full, cut)  # metadata included
    steps = [json.loads(line)["step"] for line in (cut / "metrics.jsonl").read_text().splitlines()]
    assert steps == [30, 60]


def test_existing_run_is_never_overwritten_without_force(trained_run, csv_file, capsys, tmp_path):
    before = (trained_run / "checkpoint.safetensors").read_bytes()
    fails_in_one_line(capsys, ["train", str(csv_file), "--out", str(trained_run), *QUICK], "--force")
    assert (trained_run / "checkpoint.safetensors").read_bytes() == before
    out = tmp_path / "taken.npy"
    out.write_bytes(b"mine")
    fails_in_one_line(capsys, ["sample", str(trained_run), "-n", "5", "--out", str(out)], "exists")
    assert out.read_bytes() == b"mine"


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


BAD_DATA = {
    "missing": (lambda t: str(t / "nope.csv"), "nope.csv"),
    "empty": (lambda t: _write(t, "empty.csv", ""), "empty.csv"),
    "non-numeric": (lambda t: _write(t, "nn.csv", "1,2\n3,abc\n"), "line 2"),
    "nan": (lambda t: _write(t, "nan.csv", "1,2\n3,nan\n4,5\n"), "nan.csv"),
    "inf": (lambda t: _write(t, "inf.csv", "1,2\n3,inf\n4,5\n"), "inf.csv"),
    "ragged": (lambda t: _write(t, "rag.csv", "1,2\n3,4,5\n"), "line 2"),
    "one sample": (lambda t: _write(t, "one.csv", "1,2\n"), "one.csv"),
    "unknown toy": (lambda t: "toy:nope", "nope"),
}


@pytest.mark.parametrize("case", sorted(BAD_DATA))
def test_bad_data_ends_in_one_line(case, tmp_path, capsys):
    make, needle = BAD_DATA[case]
    fails_in_one_line(capsys, ["train", make(tmp_path), "--out", str(tmp_path / "run"), *QUICK], needle)
    assert not (tmp_path / "run" / "checkpoint.safetensors").exists()


def test_mixed_image_sizes_end_in_one_line(tmp_path, capsys):
    from PIL import Image
    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.new("L", (8, 8)).save(folder / "a.png")
    Image.new("L", (9, 9)).save(folder / "b.png")
    fails_in_one_line(capsys, ["train", str(folder), "--out", str(tmp_path / "run"), *QUICK], "b.png")


BAD_OPTIONS = {
    "unknown key": (["--set", "training.nope=1"], "training.nope"),
    "wrong section": (["--set", "model.steps=1"], "model.steps"),
    "zero steps": (["--set", "training.steps=0"], "training.steps"),
    "negative sigma": (["--set", "noise.sigma_min=-1"], "noise.sigma_min"),
    "zero batch": (["--set", "training.batch_size=0"], "training.batch_size"),
    "not a number": (["--set", "training.lr=fast"], "training.lr"),
    "unknown objective": (["--set", "objective.objective=magic"], "magic"),
    "cd needs energy": (["--set", "objective.objective=cd"], "energy"),
    "bad set syntax": (["--set", "training.steps"], "training.steps"),
    "negative seed": (["--seed", "-3"], "seed"),
}


@pytest.mark.parametrize("case", sorted(BAD_OPTIONS))
def test_bad_options_end_in_one_line(case, csv_file, tmp_path, capsys):
    extra, needle = BAD_OPTIONS[case]
    fails_in_one_line(capsys, ["train", str(csv_file), "--out", str(tmp_path / "run"), *extra, "--quiet"], needle)


def test_bad_config_files_end_in_one_line(csv_file, tmp_path, capsys):
    bad = _write(tmp_path, "bad.toml", "[training]\nsteps = 'many'\n")
    fails_in_one_line(capsys, ["train", str(csv_file), "--out", str(tmp_path / "r"), "--config", bad], "training.steps")
    unknown = _write(tmp_path, "unknown.toml", "[training]\nwarp = 9\n")
    fails_in_one_line(capsys, ["train", str(csv_file), "--out", str(tmp_path / "r"), "--config", unknown], "training.warp")
    broken = _write(tmp_path, "broken.toml", "[training\n")
    fails_in_one_line(capsys, ["train", str(csv_file), "--out", str(tmp_path / "r"), "--config", broken], "broken.toml")


def test_bad_sample_and_eval_arguments_end_in_one_line(trained_run, tmp_path, capsys):
    fails_in_one_line(capsys, ["sample", str(trained_run), "-n", "0", "--out", str(tmp_path / "x.npy")], "-n")
    fails_in_one_line(capsys, ["sample", str(trained_run), "--out", str(tmp_path / "x.txt")], "x.txt")
    fails_in_one_line(capsys, ["sample", str(trained_run), "--out", str(tmp_path / "x.npy"), "--sampler", "magic"], "magic")
    fails_in_one_line(capsys, ["sample", str(tmp_path / "norun"), "--out", str(tmp_path / "x.npy")], "norun")
    fails_in_one_line(capsys, ["eval", str(trained_run), "--data", "toy:curve"], "shape")
    fails_in_one_line(capsys, ["frobnicate"], "frobnicate")


def test_config_file_and_set_precedence(csv_file, tmp_path):
    cfg = _write(tmp_path, "c.toml", "[training]\nsteps = 40\nbatch_size = 64\n[model]\nwidth = 16\n")
    run = tmp_path / "run"
    assert main(["train", str(csv_file), "--out", str(run), "--config", cfg, "--set", "training.steps=20", "--quiet"]) == 0
    stored = json.loads((run / "config.json").read_text())["config"]
    assert stored["steps"] == 20 and stored["batch_size"] == 64 and stored["width"] == 16


def test_python_dash_m_and_console_script():
    out = subprocess.run([sys.executable, "-m", "scorelab", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and "scorelab" in out.stdout
    bad = subprocess.run([sys.executable, "-m", "scorelab", "train", "nope.csv", "--out", "x"], capture_output=True, text=True)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal where CUDA is absent")
def test_device_option_without_cuda(trained_run, csv_file, tmp_path, capsys):
    out, run = tmp_path / "s.npy", tmp_path / "run"
    fails_in_one_line(capsys, ["sample", str(trained_run), "-n", "5", "--out", str(out), "--device", "cuda"],
                      "CUDA is not available")
    fails_in_one_line(capsys, ["train", str(csv_file), "--out", str(run), "--device", "cuda", "--quiet"],
                      "CUDA is not available")
    fails_in_one_line(capsys, ["sample", str(trained_run), "-n", "5", "--out", str(out), "--device", "tpu"],
                      "--device")
    assert not out.exists() and not run.exists()
    assert main(["sample", str(trained_run), "-n", "5", "--out", str(out), "--steps", "2", "--device", "auto"]) == 0
