"""Run directories are untrusted input: nothing is unpickled, nothing malformed is loaded, and
nothing outside the run directory is opened.

Every corruption below (truncation, random bytes, a tampered tensor or config.json) must be
refused by ``scorelab.load`` with ``CheckpointError`` and by the CLI with exit code 2 and one
line, without writing any output.
"""
import ast
import json
import shutil
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

import scorelab
from conftest import fails_in_one_line
from scorelab.cli import main
from scorelab.training import CheckpointError
from scorelab.training import checkpoint as ckpt

SRC = Path(scorelab.__file__).parent
TINY = ["--set", "training.steps=20", "--set", "training.checkpoint_every=10", "--set", "training.eval_every=10",
        "--set", "model.width=8", "--set", "training.batch_size=32", "--quiet"]


@pytest.fixture(scope="module")
def trained_run(tiny_run, points_csv):
    return tiny_run(points_csv, TINY)


@pytest.fixture
def run(trained_run, tmp_path):
    """A fresh copy of the trained run, to tamper with."""
    return Path(shutil.copytree(trained_run, tmp_path / "run"))


def _refused_everywhere(run, capsys, tmp_path):
    """``scorelab.load`` raises CheckpointError; ``scorelab sample`` exits 2 with one line."""
    with pytest.raises(CheckpointError):
        scorelab.load(run)
    out = tmp_path / "samples.npy"
    # the message names the run (or the file in it)
    err = fails_in_one_line(capsys, ["sample", str(run), "-n", "5", "--steps", "1", "--out", str(out)], str(run))
    assert not out.exists()
    return err


# ------------------------------------------------------------------ nothing is unpickled

_UNSAFE_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "shelve", "marshal"}
_UNSAFE_TEXT = ("torch.load(", "torch.jit.load(", "allow_pickle=True", "weights_only=False",
                "pickle.load", "yaml.load(", "read_pickle(")


def _sources():
    files = sorted(SRC.rglob("*.py"))
    assert len(files) > 20, files
    return files


def test_the_source_tree_never_unpickles():
    """A grep for the ways Python code unpickles, and an AST check that every ``np.load`` passes
    ``allow_pickle=False`` explicitly. (The bare word "pickle" is allowed in prose: the docs say
    there is none, and data.py explains a refused pickled .npy.)"""
    offenders = []
    for path in _sources():
        text = path.read_text()
        offenders += [f"{path}: {needle}" for needle in _UNSAFE_TEXT if needle in text]
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Import):
                offenders += [f"{path}:{node.lineno}: import {a.name}" for a in node.names
                              if a.name.split(".")[0] in _UNSAFE_MODULES]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in _UNSAFE_MODULES:
                offenders.append(f"{path}:{node.lineno}: from {node.module} import")
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "load" \
                    and isinstance(node.func.value, ast.Name) and node.func.value.id in ("np", "numpy"):
                safe = any(k.arg == "allow_pickle" and isinstance(k.value, ast.Constant) and k.value.value is False
                           for k in node.keywords)
                if not safe:
                    offenders.append(f"{path}:{node.lineno}: np.load without allow_pickle=False")
    assert not offenders, offenders


def test_a_pickled_npy_is_refused_as_data(tmp_path, capsys):
    path = tmp_path / "objects.npy"
    np.save(path, np.array([{"a": 1}, {"b": 2}], dtype=object), allow_pickle=True)
    fails_in_one_line(capsys, ["train", str(path), "--out", str(tmp_path / "r"), *TINY], "pickled")


# ------------------------------------------------------------------ damaged files

def _checkpoint_offsets(path: Path):
    data = path.read_bytes()
    header_end = 8 + struct.unpack("<Q", data[:8])[0]
    return sorted({0, 1, 7, 8, 9, header_end // 2, header_end - 1, header_end, header_end + 1,
                   (header_end + len(data)) // 2, len(data) - 4, len(data) - 1})


def test_a_truncated_checkpoint_is_refused(run, capsys, tmp_path):
    path = run / ckpt.CHECKPOINT_FILE
    full = path.read_bytes()
    offsets = _checkpoint_offsets(path)
    assert len(offsets) >= 10
    for cut in offsets:
        path.write_bytes(full[:cut])
        _refused_everywhere(run, capsys, tmp_path)


def test_a_truncated_config_is_refused(run, capsys, tmp_path):
    path = run / ckpt.CONFIG_FILE
    full = path.read_bytes()
    for cut in (0, 1, len(full) // 3, len(full) // 2, len(full) - 3):
        path.write_bytes(full[:cut])
        _refused_everywhere(run, capsys, tmp_path)


@pytest.mark.parametrize("name", [ckpt.CHECKPOINT_FILE, ckpt.CONFIG_FILE])
def test_random_bytes_are_refused(run, name, capsys, tmp_path):
    rng = np.random.default_rng(1)
    for size in (1, 8, 9, 100, 5000):
        (run / name).write_bytes(rng.bytes(size))
        _refused_everywhere(run, capsys, tmp_path)
    # random bytes behind a plausible safetensors header length
    (run / name).write_bytes(struct.pack("<Q", 40) + rng.bytes(200))
    _refused_everywhere(run, capsys, tmp_path)


def test_missing_files_are_refused(run, capsys, tmp_path):
    (run / ckpt.CHECKPOINT_FILE).unlink()
    _refused_everywhere(run, capsys, tmp_path)
    (run / ckpt.CONFIG_FILE).unlink()
    _refused_everywhere(run, capsys, tmp_path)
    shutil.rmtree(run)
    _refused_everywhere(run, capsys, tmp_path)


# ------------------------------------------------------------------ tampered checkpoints

def _read(path):
    with safe_open(str(path), framework="pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata())


def _edit_tensors(edit):
    def apply(run):
        tensors, meta = _read(run / ckpt.CHECKPOINT_FILE)
        edit(tensors, meta)
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(run / ckpt.CHECKPOINT_FILE), metadata=meta)
    return apply


def _first(tensors, prefix):
    return next(k for k in sorted(tensors) if k.startswith(prefix) and k.endswith("weight"))


def _set(key, value):
    def edit(t, m):
        t[key] = value(t[key]) if callable(value) else value
    return edit


def _model(value):
    def edit(t, m):
        key = _first(t, "model.")
        t[key] = value(t[key])
    return edit


def _pop(prefix):
    def edit(t, m):
        del t[_first(t, prefix) if prefix.endswith(".") else prefix]
    return edit


def _meta(key, raw):
    def edit(t, m):
        if raw is None:
            m.pop(key, None)
        else:
            m[key] = raw
    return edit


def _huge_header(run):
    header = json.dumps({"model.x": {"dtype": "F32", "shape": [2**40, 2**20], "data_offsets": [0, 2**62]}}).encode()
    (run / ckpt.CHECKPOINT_FILE).write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 64)


def _header_length_beyond_file(run):
    (run / ckpt.CHECKPOINT_FILE).write_bytes(struct.pack("<Q", 2**62) + b"{}")


TAMPERED_TENSORS = {
    "weight transposed (wrong shape)": _model(lambda w: w.t().contiguous()),
    "weight with an extra row": _model(lambda w: torch.cat([w, w[:1]])),
    "weight float64": _model(lambda w: w.double()),
    "weight float16": _model(lambda w: w.half()),
    "weight int32": _model(lambda w: w.int()),
    "weight NaN": _model(lambda w: torch.full_like(w, float("nan"))),
    "EMA weight Inf": _set("ema.trunk.out.weight", lambda w: torch.full_like(w, float("inf"))),
    "missing model weight": _pop("model."),
    "missing EMA weight": _pop("ema."),
    "unexpected model weight": _set("model.trunk.evil", torch.zeros(3)),
    "missing sigmas": _pop("sigmas"),
    "missing normalizer mean": _pop("normalizer.mean"),
    "missing normalizer scale": _pop("normalizer.scale"),
    "negative sigmas": _set("sigmas", lambda s: -s),
    "one negative sigma": _set("sigmas", lambda s: torch.cat([s[:-1], -s[-1:]])),
    "zero sigma": _set("sigmas", lambda s: torch.cat([s[:-1], torch.zeros(1)])),
    "NaN sigma": _set("sigmas", lambda s: torch.cat([s[:-1], torch.full((1,), float("nan"))])),
    "increasing sigmas": _set("sigmas", lambda s: s.flip(0).contiguous()),
    "2-D sigmas": _set("sigmas", lambda s: s[None]),
    "no sigmas for ncsn": _set("sigmas", torch.zeros(0)),
    "integer sigmas": _set("sigmas", lambda s: torch.arange(len(s), 0, -1)),
    "NaN normalizer mean": _set("normalizer.mean", lambda m: torch.full_like(m, float("nan"))),
    "normalizer mean of the wrong shape": _set("normalizer.mean", torch.zeros(3)),
    "zero normalizer scale": _set("normalizer.scale", lambda c: torch.zeros_like(c)),
    "negative normalizer scale": _set("normalizer.scale", lambda c: -c),
    "Inf normalizer scale": _set("normalizer.scale", lambda c: torch.full_like(c, float("inf"))),
    "normalizer scale of the wrong shape": _set("normalizer.scale", torch.ones(5)),
    "preview of the wrong shape": _set("data.preview", lambda p: p[:, :1].contiguous()),
    "NaN preview": _set("data.preview", lambda p: torch.full_like(p, float("nan"))),
    "scalar preview": _set("data.preview", torch.ones(())),
    "format from the future (metadata)": _meta("format", json.dumps("scorelab-run-2")),
    "no format (metadata)": _meta("format", None),
    "metadata not JSON": _meta("format", "{not json"),
    "metadata deeply nested": _meta("step", "[" * 100_000 + "]" * 100_000),
}
TAMPERED_TENSORS = {name: _edit_tensors(edit) for name, edit in TAMPERED_TENSORS.items()} | {
    "huge tensor shape in the header": _huge_header,
    "header length beyond the file": _header_length_beyond_file,
}


@pytest.mark.parametrize("case", sorted(TAMPERED_TENSORS))
def test_a_tampered_checkpoint_is_refused(case, run, capsys, tmp_path):
    TAMPERED_TENSORS[case](run)
    _refused_everywhere(run, capsys, tmp_path)


# ------------------------------------------------------------------ tampered config.json

def _edit_config(edit):
    def apply(run):
        obj = json.loads((run / ckpt.CONFIG_FILE).read_text())
        edit(obj)
        (run / ckpt.CONFIG_FILE).write_text(json.dumps(obj))
    return apply


def _cfg(name, value):
    return _edit_config(lambda o: o["config"].__setitem__(name, value))


def _data(name, value):
    return _edit_config(lambda o: o["data"].__setitem__(name, value))


def _top(name, value):
    return _edit_config(lambda o: o.__setitem__(name, value))


def _drop(*keys):
    def edit(o):
        for k in keys[:-1]:
            o = o[k]
        del o[keys[-1]]
    return _edit_config(edit)


def _raw(text):
    return lambda run: (run / ckpt.CONFIG_FILE).write_text(text)


TAMPERED_CONFIGS = {
    # formats and structure
    "format from the future": _top("format", "scorelab-run-2"),
    "format missing": _drop("format"),
    "format a number": _top("format", 2),
    "not an object": _raw("[1, 2, 3]"),
    "empty": _raw(""),
    "invalid JSON": _raw('{"format": "scorelab-run-1",'),
    "deeply nested JSON": _raw('{"config": ' + "[" * 100_000 + "]" * 100_000 + "}"),
    "an integer of 10000 digits": _raw('{"config": ' + "9" * 10_000 + "}"),
    "not UTF-8": lambda run: (run / ckpt.CONFIG_FILE).write_bytes(b'{"format": "\xff\xfe"}'),
    "config missing": _drop("config"),
    "data missing": _drop("data"),
    "normalize missing": _drop("normalize"),
    "config a list": _top("config", [1, 2]),
    "data a string": _top("data", "points.csv"),
    # unknown keys, in particular ones that look like paths
    "unknown config key": _cfg("evil", 1),
    "unknown config key that is a path": _cfg("checkpoint", "/etc/passwd"),
    "unknown top-level key that is a path": _top("checkpoint", "../../elsewhere/checkpoint.safetensors"),
    "unknown top-level weights path": _top("weights", "/tmp/evil.safetensors"),
    "unknown data key that is a path": _data("path", "../../../etc/passwd"),
    # wrong types
    "width a string": _cfg("width", "8"),
    "width a float": _cfg("width", 8.0),
    "width a bool": _cfg("width", True),
    "steps a string": _cfg("steps", "20"),
    "lr a string": _cfg("lr", "0.002"),
    "lr a list": _cfg("lr", [0.002]),
    "lr NaN": _cfg("lr", float("nan")),
    "lr Infinity": _cfg("lr", float("inf")),
    "objective a number": _cfg("objective", 3),
    "objective unknown": _cfg("objective", "magic"),
    "model null": _cfg("model", None),
    "shape a string": _data("shape", "2"),
    "shape of floats": _data("shape", [2.0]),
    "shape of bools": _data("shape", [True]),
    "n_train a string": _data("n_train", "180"),
    "name a number": _data("name", 3),
    "kind unknown": _data("kind", "video"),
    "normalize differs from the config": _top("normalize", "per-dim"),
    # values out of range or inconsistent with the tensors
    "negative sigma_min": _cfg("sigma_min", -0.1),
    "zero width": _cfg("width", 0),
    "huge width": _cfg("width", 10**9),
    "width of another network": _cfg("width", 16),
    "huge depth": _cfg("depth", 10**9),
    "depth of another network": _cfg("depth", 4),
    "huge shape": _data("shape", [2**40]),
    "huge shape product": _data("shape", [4096, 4096, 4096]),
    "empty shape": _data("shape", []),
    "shape of another dimension": _data("shape", [3]),
    "zero in shape": _data("shape", [0]),
    "n_levels of another schedule": _cfg("n_levels", 5),
    "objective of another network": _cfg("objective", "dsm"),
    "energy instead of score": _cfg("model", "energy"),
    "cd without energy": _cfg("objective", "cd"),
}


@pytest.mark.parametrize("case", sorted(TAMPERED_CONFIGS))
def test_a_tampered_config_is_refused(case, run, capsys, tmp_path):
    TAMPERED_CONFIGS[case](run)
    _refused_everywhere(run, capsys, tmp_path)


# ------------------------------------------------------------------ configs written by earlier versions

def _unet_run(run_dir, **config):
    """An untrained 8×8 grey-image U-Net run saved in ``run_dir`` (no training needed to load it)."""
    from scorelab.samplers import geometric_sigmas
    from scorelab.training.config import make_config
    from scorelab.training.normalization import Normalizer
    from scorelab.training.run import Run

    torch.manual_seed(0)
    cfg = make_config(**config)
    data = {"name": "images", "kind": "images", "shape": [1, 8, 8], "n_train": 10, "n_holdout": 0}
    run = Run.new(cfg, data, Normalizer.fit(torch.rand(10, 1, 8, 8), cfg.normalize),
                  geometric_sigmas(1.0, 0.01, 4), "cpu")
    run.save(run_dir)
    return run


def test_an_explicit_unet_width_of_128_is_128_channels(tmp_path):
    _unet_run(tmp_path / "run", width=128)
    model = scorelab.load(tmp_path / "run")
    assert model.network_.conv_in.out_channels == 128 and model.run_.cfg.width == 128


# ------------------------------------------------------------------ no path from a file is used

_OPENED = None  # a list while a test records the files Python opens
_AUDIT_HOOK_INSTALLED = False  # an audit hook is process-wide and cannot be removed: install it once


def _audit(event, args):
    if _OPENED is not None and event == "open" and isinstance(args[0], (str, bytes, Path)):
        _OPENED.append(Path(str(args[0])).resolve())


def _install_audit_hook():
    global _AUDIT_HOOK_INSTALLED
    if not _AUDIT_HOOK_INSTALLED:
        sys.addaudithook(_audit)
        _AUDIT_HOOK_INSTALLED = True


def test_loading_opens_nothing_but_the_two_run_files(run, tmp_path, monkeypatch):
    """Path-like values in config.json (the only free-text field, ``data.name``) are labels: a
    load opens exactly ``RUN/config.json`` and ``RUN/checkpoint.safetensors`` and nothing else."""
    global _OPENED
    _install_audit_hook()
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(run / ckpt.CHECKPOINT_FILE, outside / ckpt.CHECKPOINT_FILE)
    _data("name", str(outside / ckpt.CHECKPOINT_FILE))(run)
    scorelab.load(run)  # warm up: lazy imports open files of their own
    real_safe_open = ckpt.safe_open

    def recording_safe_open(path, *args, **kwargs):  # safetensors opens files in Rust, unaudited
        _OPENED.append(Path(path).resolve())
        return real_safe_open(path, *args, **kwargs)

    monkeypatch.setattr(ckpt, "safe_open", recording_safe_open)
    _OPENED = []
    try:
        model = scorelab.load(run)
        opened = set(_OPENED)
    finally:
        _OPENED = None
    assert model.run_.data["name"] == str(outside / ckpt.CHECKPOINT_FILE)
    assert opened == {(run / ckpt.CONFIG_FILE).resolve(), (run / ckpt.CHECKPOINT_FILE).resolve()}, opened


# ------------------------------------------------------------------ tampered training state (--resume)

def _resume_refused(run, points_csv, capsys):
    before = (run / ckpt.CHECKPOINT_FILE).read_bytes()
    err = fails_in_one_line(capsys, ["train", str(points_csv), "--out", str(run), "--resume", *TINY])
    assert (run / ckpt.CHECKPOINT_FILE).read_bytes() == before
    return err


def _groups(edit):
    def apply(t, m):
        groups = json.loads(m["optim_groups"])
        edit(groups)
        m["optim_groups"] = json.dumps(groups)
    return apply


TAMPERED_STATE = {
    "Adam moment NaN": _set("optim.0.exp_avg", lambda v: torch.full_like(v, float("nan"))),
    "Adam moment of the wrong shape": _set("optim.0.exp_avg_sq", lambda v: v.flatten()[:1].contiguous()),
    "Adam moment missing": _pop("optim.1.exp_avg"),
    "Adam step of the wrong shape": _set("optim.0.step", torch.zeros(3)),
    "state of no parameter": _set("optim.9999.step", torch.zeros(())),
    "state key that is not an index": _set("optim.x.step", torch.zeros(())),
    "state key without a name": _set("optim.0", torch.zeros(())),
    "learning rate a string": _groups(lambda g: g[0].__setitem__("lr", "fast")),
    "betas of the wrong length": _groups(lambda g: g[0].__setitem__("betas", [0.9])),
    "betas missing": _groups(lambda g: g[0].pop("betas")),
    "unknown group key that is a path": _groups(lambda g: g[0].__setitem__("path", "/etc/passwd")),
    "other parameters": _groups(lambda g: g[0].__setitem__("params", [0, 1])),
    "groups not a list": _meta("optim_groups", json.dumps({"lr": 1})),
    "step negative": _meta("step", "-1"),
    "step a string": _meta("step", json.dumps("20")),
    "step beyond training.steps": _meta("step", "10000"),
}


@pytest.mark.parametrize("case", sorted(TAMPERED_STATE))
def test_a_tampered_training_state_is_refused_on_resume(case, run, points_csv, capsys):
    _edit_tensors(TAMPERED_STATE[case])(run)
    scorelab.load(run)  # the model itself is fine; only resuming needs (and checks) the state
    _resume_refused(run, points_csv, capsys)


def test_the_untampered_run_loads_and_resumes(run, points_csv, capsys):
    """The control: the same run, untouched, passes every check above."""
    model = scorelab.load(run)
    assert model.data_shape_ == (2,)
    assert main(["train", str(points_csv), "--out", str(run), "--resume", *TINY]) == 0
