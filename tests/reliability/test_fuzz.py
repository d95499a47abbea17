"""Fuzzing (hypothesis) of everything a user types or hands over: data files and arrays, config
files and ``--set`` strings, and the command line.

Contracts: ``load_data`` returns a valid ``Dataset`` or raises ``DataError``; the config parser
returns a valid config or raises ``ConfigError``; ``main(argv)`` returns 0 or 2, never raises,
never prints a traceback and prints its error in one line. (No deadline per example: how long
a call takes is the benchmarks' business, and a wall-clock limit fails on a loaded machine.)

Examples are derandomised (the same on every run, so CI is stable); set ``SCORELAB_FUZZ=deep``
for a longer, random search (see docs/reliability.md). The gaps this file found (now fixed)
are pinned by the regression tests at the end.
"""
import argparse
import contextlib
import io
import os
import shutil
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from conftest import fails_in_one_line
from scorelab.cli import build_parser, main
from scorelab.data import DataError, Dataset, load_data
from scorelab.samplers.named import SAMPLERS
from scorelab.training.config import OPTIONS, ConfigError, check_value, make_config, parse_set, parse_toml

DEEP = os.environ.get("SCORELAB_FUZZ") == "deep"
_COMMON = dict(database=None, derandomize=not DEEP, print_blob=True,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                      HealthCheck.function_scoped_fixture])
FAST = settings(max_examples=2000 if DEEP else 150, deadline=None, **_COMMON)
CLI = settings(max_examples=1000 if DEEP else 60, deadline=None, **_COMMON)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


# ------------------------------------------------------------------ data loaders

def _check_dataset(d) -> None:
    """What every Dataset promises: float32 samples, at least two, finite, images in [0, 1]."""
    assert isinstance(d, Dataset)
    assert isinstance(d.x, torch.Tensor) and d.x.dtype == torch.float32
    assert len(d) >= 2 and d.x.numel() > 0
    assert (d.kind, d.x.ndim) in (("points", 2), ("images", 4)), (d.kind, d.x.shape)
    assert torch.isfinite(d.x).all()
    if d.kind == "images":
        assert 0 <= float(d.x.min()) and float(d.x.max()) <= 1


def _load(source, **kwargs):
    try:
        d = load_data(source, **kwargs)
    except DataError as e:  # one line, unless the user's own source name holds line breaks
        echoed = source.count("\n") if isinstance(source, str) else 0
        assert str(e) and str(e).count("\n") <= echoed, repr(str(e))
        return None
    _check_dataset(d)
    return d


def _write(folder: Path, name: str, data) -> Path:
    path = folder / name
    path.write_bytes(data) if isinstance(data, bytes) else path.write_text(data)
    return path


def _npy_bytes(header: str, body: bytes) -> bytes:
    h = header.encode("latin1")
    h += b" " * ((64 - (10 + len(h) + 1) % 64) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h + body


_DESCRS = ["<f8", ">f8", "<f4", ">f4", "<f2", "|u1", "<i8", ">i8", "|b1", "<c8", "|O", "<U3", "|S2", "<M8[s]",
           "zz", "", "<f8'", "[('a', '<f8')]"]
# shapes far beyond 10**6 elements: a header may claim far more than its body holds (test_npy_header_*)
_SHAPES = st.lists(st.integers(-2, 1000) | st.integers(10**5, 10**12), min_size=0, max_size=5)


@st.composite
def npy_files(draw):
    descr = draw(st.sampled_from(_DESCRS))
    shape = draw(_SHAPES)
    text = "(" + "".join(f"{v}, " for v in shape) + ")"
    header = draw(st.sampled_from([
        f"{{'descr': '{descr}', 'fortran_order': {draw(st.booleans())}, 'shape': {text}, }}",
        f"{{'descr': '{descr}', 'shape': {text}}}",
        f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {text}, 'extra': 1, }}",
        "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2)",  # unterminated: see test_npy_header_*
    ]))
    body = draw(st.one_of(st.binary(max_size=256), st.builds(lambda a: a.tobytes(), hnp.arrays(
        np.float64, st.integers(0, 64), elements=st.floats()))))
    return _npy_bytes(header, body)


@FAST
@given(data=st.binary(max_size=2048), suffix=st.sampled_from([".npy", ".npz", ".csv", ".tsv", ".png", ""]))
def test_random_bytes_give_a_dataset_or_a_data_error(scratch, data, suffix):
    _load(str(_write(scratch, f"random{suffix}", data)))


@FAST
@given(data=st.binary(max_size=512), magic=st.sampled_from([b"\x93NUMPY\x01\x00", b"\x93NUMPY\x02\x00",
                                                             b"\x93NUMPY\x03\x00", b"PK\x03\x04", b"PK\x05\x06"]))
def test_random_bytes_behind_a_numpy_magic(scratch, data, magic):
    _load(str(_write(scratch, "magic.npy", magic + data)))


@FAST
@given(npy=npy_files(), member=st.sampled_from([None, "x.npy", "data.npy", "other.npy"]),
       compression=st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))
def test_npy_and_npz_with_fuzzed_headers(scratch, npy, member, compression):
    if member is None:
        _load(str(_write(scratch, "fuzzed.npy", npy)))
        return
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as z:
        z.writestr(member, npy)
    _load(str(_write(scratch, "fuzzed.npz", buf.getvalue())))


_CSV_ALPHABET = st.sampled_from(list("0123456789.-+eE,\t \n\r\"'#;x") + ["nan", "inf", "-inf", "1e308", "\ufeff", "é"])


@FAST
@given(text=st.lists(_CSV_ALPHABET, max_size=200).map("".join), suffix=st.sampled_from([".csv", ".tsv"]))
def test_csv_like_text(scratch, text, suffix):
    _load(str(_write(scratch, f"text{suffix}", text)))


@st.composite
def arrays(draw):
    # either byte order (big-endian arrays load: test_big_endian_*)
    dtype = draw(st.one_of(hnp.boolean_dtypes(), hnp.integer_dtypes(endianness="?"),
                           hnp.unsigned_integer_dtypes(endianness="?"), hnp.floating_dtypes(endianness="?"),
                           hnp.complex_number_dtypes(endianness="?"), hnp.datetime64_dtypes(endianness="?"),
                           hnp.unicode_string_dtypes(endianness="?", max_len=3), st.just(np.dtype(object))))
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=5))
    if dtype.kind == "O":
        return np.array(draw(st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=8)), dtype=object)
    # any float of the dtype's width, NaN and Inf included: float64 beyond float32's range is
    # refused (test_float64_beyond_float32_*)
    elements = st.floats(width=min(64, 8 * dtype.itemsize)) if dtype.kind == "f" else None
    return draw(hnp.arrays(dtype, shape, elements=elements))


@FAST
@given(a=arrays(), as_tensor=st.booleans(), image_size=st.sampled_from([None, None, 4, (3, 5), 0, "x"]))
def test_arrays_and_tensors(a, as_tensor, image_size):
    if as_tensor:
        try:
            a = torch.from_numpy(a.copy())
        except (TypeError, RuntimeError, ValueError):  # a dtype torch has no tensor for
            pass
    d = _load(a, image_size=image_size)
    if d is not None and image_size is None:
        assert len(d) == len(a)


# Image folders: every file (mode, size, format, damage) is drawn, and the outcome predicted.
GREY, OPAQUE_ALPHA = {"1", "L", "LA"}, {"RGBA", "LA"}
PNG_MODES = ["L", "RGB", "RGBA", "LA", "P", "P+transparency", "1", "I;16"]
JPEG_MODES = ["L", "RGB", "CMYK"]
DAMAGE = ["none"] * 12 + ["truncated", "random bytes", "empty"]
IMAGES = settings(max_examples=300 if DEEP else 25, deadline=None, **_COMMON)


@st.composite
def image_files(draw):
    fmt = draw(st.sampled_from(["png", "jpg"]))
    mode = draw(st.sampled_from(PNG_MODES if fmt == "png" else JPEG_MODES))
    size = draw(st.sampled_from([(4, 4), (4, 4), (5, 3)]))  # (width, height)
    transparent = mode in OPAQUE_ALPHA and draw(st.booleans())
    return fmt, mode, size, transparent, draw(st.sampled_from(DAMAGE)), draw(st.integers(0, 2**32 - 1))


def _image_bytes(fmt, mode, size, transparent, seed) -> bytes:
    from PIL import Image
    rgb = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    im = Image.fromarray(rgb, "RGB")
    save = {}
    if mode == "P+transparency":  # the first pixel's palette entry is transparent
        im = im.convert("P")
        save["transparency"] = im.getpixel((0, 0))
    elif mode == "I;16":
        im = Image.fromarray(rgb[..., 0].astype(np.uint16) * 257)
    else:
        im = im.convert(mode)
    if mode in OPAQUE_ALPHA:
        im.putalpha(Image.fromarray(np.full(rgb.shape[:2], 254 if transparent else 255, np.uint8)))
    buf = io.BytesIO()
    im.save(buf, format="PNG" if fmt == "png" else "JPEG", **save)
    return buf.getvalue()


@IMAGES
@given(files=st.lists(image_files(), min_size=2, max_size=5), image_size=st.sampled_from([None, None, 4]))
def test_image_folders_of_mixed_modes_sizes_and_damage(scratch, files, image_size):
    folder = scratch / "images"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    for i, (fmt, mode, size, transparent, damage, seed) in enumerate(files):
        data = _image_bytes(fmt, mode, size, transparent, seed)
        data = {"none": data, "truncated": data[:len(data) // 2], "random bytes": os.urandom(len(data)),
                "empty": b""}[damage]
        _write(folder, f"{i}.{fmt}", data)
    d = _load(str(folder), image_size=image_size)
    damaged = [f[4] for f in files if f[4] != "none"]
    refused = (any(f[1] == "I;16" or f[3] or (f[1] == "P+transparency") for f in files)
               or (image_size is None and len({f[2] for f in files}) > 1))
    event(f"damaged={bool(damaged)} refused={refused}")
    if {"random bytes", "empty"} & set(damaged) or (refused and not damaged):
        assert d is None
    elif not damaged:
        channels = 1 if all(f[1] in GREY for f in files) else 3
        h, w = (4, 4) if image_size else files[0][2][::-1]
        assert d is not None and tuple(d.x.shape) == (len(files), channels, h, w), (files, d and d.x.shape)


@FAST
@given(source=st.one_of(st.text(max_size=30), st.builds("toy:{}".format, st.text(max_size=30)),
                        st.builds("toy:{}?{}={}".format, st.sampled_from(["curve", "rings", "lecture", "nope"]),
                                  st.text(max_size=8), st.text(max_size=8)),
                        st.sampled_from(["digits:nope", "toy:", "toy:?", "toy:rings?&&", "."])),
       n_toy=st.integers(-2, 200))
def test_names_and_toy_queries(source, n_toy):
    if source.startswith("digits") and source in ("digits", "digits:train", "digits:test"):
        return
    _load(source, n_toy=n_toy)


# ------------------------------------------------------------------ config parser

_KEYS = [f"{o.section}.{n}" for n, o in OPTIONS.items()]
_VALUES = st.one_of(st.text(max_size=12), st.integers(-10**20, 10**20).map(str),
                    st.floats(allow_nan=True, allow_infinity=True).map(repr),
                    st.sampled_from(["auto", "true", "false", "nan", "inf", "1.5", "1e3", "0x10", "  7 ", "",
                                     "score", "energy", "ncsn", "cd", "mlp", "unet", "per-dim", "cpu", "cuda"]))


def _check_config(cfg) -> None:
    assert set(vars(cfg)) == set(OPTIONS)
    for name, value in vars(cfg).items():
        assert check_value(name, value) == value  # the parsed config is valid and stable


def _config_or_error(build):
    try:
        cfg = build()
    except ConfigError as e:
        assert str(e) and "\n" not in str(e)
        return None
    _check_config(cfg)
    return cfg


@FAST
@given(items=st.lists(st.one_of(
    st.text(max_size=30),
    st.builds("{}={}".format, st.sampled_from(_KEYS) | st.text(max_size=15), _VALUES),
    st.builds("{}.{}={}".format, st.sampled_from(["model", "training", "noise", "x", ""]),
              st.sampled_from(list(OPTIONS)) | st.text(max_size=8), _VALUES)), max_size=6))
def test_set_strings_give_a_config_or_a_config_error(items):
    _config_or_error(lambda: make_config(**parse_set(items)))


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return {float("inf"): "inf", -float("inf"): "-inf"}.get(v, "nan" if v != v else repr(v))
    if isinstance(v, int):
        return str(v)
    if isinstance(v, list):
        return "[" + ", ".join(map(_toml_value, v)) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f'"{k}" = {_toml_value(x)}' for k, x in v.items()) + "}"
    return '"' + "".join("\\" + c if c in '"\\' else f"\\u{ord(c):04x}" if ord(c) < 0x20 or ord(c) == 0x7F else c
                         for c in v) + '"'


_TOML_SCALARS = st.one_of(st.booleans(), st.integers(-10**20, 10**20), st.floats(), st.text(max_size=10),
                          st.sampled_from(["auto", "score", "ncsn", "isotropic"]))
_TOML_VALUES = st.recursive(_TOML_SCALARS, lambda inner: st.lists(inner, max_size=3)
                            | st.dictionaries(st.sampled_from(["a", "b"]), inner, max_size=2), max_leaves=5)


@st.composite
def toml_documents(draw):
    sections = draw(st.dictionaries(
        st.sampled_from(sorted({o.section for o in OPTIONS.values()}) + ["extra", "training.sub"]),
        st.dictionaries(st.sampled_from(list(OPTIONS)[:12] + ["steps", "lr", "nope"]), _TOML_VALUES, max_size=4),
        max_size=4))
    text = "".join(f"[{s}]\n" + "".join(f"{k} = {_toml_value(v)}\n" for k, v in table.items())
                   for s, table in sections.items())
    if draw(st.booleans()):  # damage it: random characters inserted, or a random cut
        pos = draw(st.integers(0, len(text)))
        text = text[:pos] + draw(st.text(max_size=5)) + text[pos + draw(st.integers(0, 3)):]
    return text


@FAST
@given(text=st.one_of(toml_documents(), st.text(max_size=200)))
def test_toml_files_give_a_config_or_a_config_error(scratch, text):
    path = scratch / "fuzz.toml"
    try:
        path.write_text(text, encoding="utf-8")
    except UnicodeEncodeError:  # lone surrogates: write raw bytes instead
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
    _config_or_error(lambda: make_config(**parse_toml(path)))


# ------------------------------------------------------------------ the command line

QUICK_SET = ["training.steps=2", "training.eval_every=2", "training.checkpoint_every=2", "model.width=4",
             "model.depth=1", "training.batch_size=16", "sampling.steps_per_level=2", "sampling.langevin_steps=3",
             "objective.cd_steps=2", "objective.cd_buffer=20"]
# values a user may type; never large sizes or step counts (those only make a run long)
SET_POOL = QUICK_SET + [
    "objective.objective=dsm", "objective.objective=ssm", "objective.objective=esm", "objective.objective=cd",
    "objective.objective=ssm-vr", "model.model=energy", "model.arch=unet", "model.arch=mlp", "noise.normalize=none",
    "noise.normalize=per-dim", "noise.n_levels=2", "noise.sigma_min=1e-44", "noise.sigma_max=0.001",
    "noise.sigma_min=100", "training.lr=10", "training.grad_clip=0", "training.holdout=0", "training.ema=0",
    "training.device=cuda", "training.image_size=4", "sampling.sampler=euler", "sampling.sampler=mala",
    "sampling.step_size=1e6", "training.micro_batches=2", "training.micro_batches=3",
    "training.steps=0", "training.steps=-1", "training.steps=1.5", "training.steps=x", "model.width=0",
    "noise.sigma_min=-1", "noise.n_levels=1", "training.nope=1", "nope", "=", "model.steps=2", "a.b.c=d",
    "training.lr=nan", "training.lr=inf", "training.batch_size=1e9", "training.seed=99999999999999999999999",
]


def _values(scratch: Path, run: Path, csv: Path, labelled: Path) -> dict:
    """For each argument: (values that should work, values that should not)."""
    files = {"csv": str(csv), "toml_ok": str(scratch / "ok.toml"), "toml_bad": str(scratch / "bad.toml"),
             "npy": str(scratch / "x.npy"), "mask": str(scratch / "mask.npy")}
    paths = [files["csv"], files["npy"], "nope", "nope/", "", "-", "toy:nope", str(scratch / "new"), str(scratch),
             "/dev/null", "é", "a" * 300, str(run)]
    outs = [str(scratch / f"out/s{ext}") for ext in (".npy", ".csv", ".png")]
    ints = ["0", "1", "3", "-1", "x", "1.5", "9" * 30, ""]
    return {
        "DATA": ([files["csv"], "toy:curve", "toy:lecture"], paths), "RUN": ([str(run), str(labelled)], paths),
        "--labels": (["0", "-1"], ["nope", "9", "-9", "", "x,y"]),
        "--class": (["0", "all", "1,7", "3"], ["purple", "-1", "99", "", ",", "all,0", "1.5"]),
        "--guidance": (["0", "1.5"], ["-1", "nan", "inf", "x", "1e9"]),
        "--guidance-method": (["free", "classifier"], ["nope", ""]),
        "NAME": (["nope"], ["", "score field"]),
        "--out": (outs + [str(scratch / "out/run")], [str(scratch / f"out/s{ext}") for ext in (".txt", "")]
                  + [files["csv"], str(scratch / "out"), "/dev/null/x.npy"]),
        "--config": ([files["toml_ok"]], [files["toml_bad"], "nope.toml", files["csv"]]),
        "--set": (QUICK_SET, SET_POOL), "--seed": (["0", "1", "7"], ints), "-n": (["1", "5", "30"], ints),
        "--steps": (["1", "2"], ["0", "-1", "x", "2.5"]),
        "--step-size": (["1e-3", "0.1"], ["1e6", "0", "-1", "nan", "inf", "x"]),
        "--sampler": (list(SAMPLERS), ["nope", ""]), "--data": ([files["csv"]], paths),
        "--input": ([files["npy"]], paths), "--mask": ([files["mask"]], paths),
    }


def _pick(draw, values, key):
    good, bad = values.get(key, (["1"], ["x", "-1", ""]))
    return draw(st.sampled_from(good if draw(st.integers(0, 3)) else bad))


def _subcommands():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {name: [a for a in p._actions if not isinstance(a, argparse._HelpAction)] for name, p in sub.choices.items()}


@st.composite
def argvs(draw, values):
    commands = _subcommands()
    name = draw(st.sampled_from(sorted(commands)))
    argv = [name]
    for action in draw(st.permutations(commands[name])):
        if not action.option_strings:  # a positional
            if draw(st.integers(0, 9)) > 0:
                argv.append(_pick(draw, values, "NAME" if name == "experiment" else
                                  "DATA" if action.dest == "data" else "RUN"))
            continue
        if not (action.required and draw(st.integers(0, 9)) or draw(st.integers(0, 2)) == 0):
            continue
        opt = draw(st.sampled_from(action.option_strings))
        if action.nargs == 0:
            argv.append(opt)
        elif opt == "--set":
            argv += [x for _ in range(draw(st.integers(1, 4))) for x in ("--set", _pick(draw, values, "--set"))]
        else:
            argv += [opt, _pick(draw, values, opt)]
    if draw(st.integers(0, 9)) == 0:  # junk anywhere
        argv.insert(draw(st.integers(0, len(argv))), draw(st.sampled_from(["--nope", "-", "--", "-x", "--help", "ü"])))
    if name == "train":  # keep any training that runs tiny: later --set wins
        argv += [x for v in QUICK_SET for x in ("--set", v)] + ["--quiet"]
    if name in ("demo", "experiment", "playground") and "--list" not in argv:
        argv.append("--help")  # never run the long jobs (or a server): only their argument parsing is fuzzed
    return argv


@pytest.fixture(scope="module")
def cli_values(scratch):
    csv = scratch / "points.csv"
    np.savetxt(csv, np.random.default_rng(0).normal(size=(60, 2)), delimiter=",")
    np.save(scratch / "x.npy", np.random.default_rng(1).normal(size=(4, 2)).astype(np.float32))
    np.save(scratch / "mask.npy", np.array([[1.0, 0.0]] * 4, dtype=np.float32))
    (scratch / "ok.toml").write_text("[training]\nsteps = 2\n[model]\nwidth = 4\n")
    (scratch / "bad.toml").write_text("[training]\nsteps = 'x'\n[oops\n")
    run, labelled = scratch / "run", scratch / "labelled"
    assert main(["train", str(csv), "--out", str(run), *[x for v in QUICK_SET for x in ("--set", v)], "--quiet"]) == 0
    assert main(["train", "toy:eight_gaussians", "--labels", "--out", str(labelled),
                 *[x for v in QUICK_SET for x in ("--set", v)], "--quiet"]) == 0
    return _values(scratch, run, csv, labelled)


def _run_cli(argv, cwd):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.chdir(cwd), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


@CLI
@given(data=st.data())
def test_the_cli_returns_0_or_2_and_never_a_traceback(cli_values, scratch, data):
    argv = data.draw(argvs(cli_values))
    work = scratch / "cwd"
    work.mkdir(exist_ok=True)
    code, out, err = _run_cli(argv, work)
    event(f"{argv[0]} exit {code}")  # pytest --hypothesis-show-statistics shows the mix
    assert code in (0, 2), (argv, code, err)
    assert "Traceback" not in err + out, (argv, err)
    if code == 2 and err.strip():
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("scorelab"), (argv, err)
    for leftover in (scratch / "out").glob("**/.*.tmp"):
        raise AssertionError(f"{argv}: left {leftover}")
    shutil.rmtree(scratch / "out", ignore_errors=True)


# ------------------------------------------------------------------ gaps found by fuzzing, now fixed

@pytest.mark.parametrize("source", ["array", "csv"])
def test_float64_beyond_float32_is_refused(source, scratch):
    a = np.array([[1e300, 0.0], [1.0, 2.0], [3.0, 4.0]])
    if source == "csv":
        a = _write(scratch, "big.csv", "1e300,0\n1,2\n3,4\n")
    with pytest.raises(DataError):
        load_data(a)


@pytest.mark.parametrize("header", [
    "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000, 2), }",
    "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), ",
])
def test_npy_header_lies_are_a_data_error(header, scratch):
    with pytest.raises(DataError):
        load_data(str(_write(scratch, "lie.npy", _npy_bytes(header, b"\0" * 64))))


@pytest.mark.parametrize("source", ["array", "npy"])
def test_big_endian_data_loads(source, scratch):
    a = np.arange(6, dtype=">f8").reshape(3, 2)
    if source == "npy":
        np.save(scratch / "big_endian.npy", a)
        a = str(scratch / "big_endian.npy")
    assert load_data(a).x.tolist() == [[0, 1], [2, 3], [4, 5]]


def test_a_fractional_int_is_refused():
    with pytest.raises(ConfigError):
        make_config(**parse_set(["training.steps=1.5"]))


@pytest.mark.parametrize("kind", ["sizes", "transparency", "corrupt"])
def test_bad_image_folders_exit_2_in_one_line(kind, scratch, capsys):
    from PIL import Image
    folder = scratch / f"bad-{kind}"
    folder.mkdir()
    Image.new("L", (4, 4)).save(folder / "a.png")
    if kind == "sizes":
        Image.new("RGB", (5, 4)).save(folder / "b.png")
        needle = "--set training.image_size="
    elif kind == "transparency":
        Image.new("RGBA", (4, 4), (0, 0, 0, 0)).save(folder / "b.png")
        needle = "transparent pixels"
    else:
        (folder / "b.png").write_bytes((folder / "a.png").read_bytes()[:40])
        needle = "not a readable image"
    fails_in_one_line(capsys, ["train", str(folder), "--out", str(scratch / f"run-{kind}")], "b.png", needle)
    assert not (scratch / f"run-{kind}").exists()
