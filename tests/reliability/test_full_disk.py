"""Full disks, quotas and read-only directories: a checkpoint or sample write that fails ends
in one line (exit 2), the previous checkpoint keeps its bytes, nothing half-written is left
under a final name (nor a temporary file), and once there is room ``--resume`` ends with the
uninterrupted run's exact weights.

On a real small file system (a 2 MiB tmpfs, mounted where the machine allows it; skipped
elsewhere), filled until the next checkpoint or the samples cannot fit; and everywhere, by
making ``fsync`` fail with ENOSPC, EDQUOT or EROFS (where a full network disk or a quota first
reports it).
"""
import errno
import json
import os
import subprocess

import numpy as np
import pytest

from conftest import assert_same_checkpoint, fails_in_one_line
from faults import tmp_files
from scorelab.cli import main
from scorelab.training import checkpoint as ckpt

SETTINGS = ["--set", "model.width=8", "--set", "training.steps=20", "--set", "training.batch_size=32",
            "--set", "training.checkpoint_every=5", "--set", "training.eval_every=5", "--quiet"]


@pytest.fixture(scope="module")
def reference(points_csv, tiny_run):
    return tiny_run(points_csv, SETTINGS)


@pytest.fixture
def small_fs(tmp_path):
    """A 2 MiB tmpfs at tmp_path/fs (root only, where mounting works)."""
    fs = tmp_path / "fs"
    fs.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(fs)], capture_output=True)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()})")
    yield fs
    subprocess.run(["umount", "-l", str(fs)], check=True)


def _fill(fs, leave: int):
    """Fill ``fs`` but ``leave`` bytes; returns the filler file."""
    st = os.statvfs(fs)
    filler = fs / "filler"
    filler.write_bytes(b"\0" * max(0, st.f_bavail * st.f_frsize - leave))
    return filler


def _spy_checkpoints(monkeypatch):
    """The bytes of checkpoint.safetensors before each write of it (None: there was none)."""
    before, real = [], ckpt.save_tensors

    def spy(path, tensors, metadata):
        before.append(path.read_bytes() if path.exists() else None)
        return real(path, tensors, metadata)
    monkeypatch.setattr(ckpt, "save_tensors", spy)
    return before


def _assert_intact(run, before):
    assert (run / ckpt.CHECKPOINT_FILE).read_bytes() == before[-1]  # the write that failed changed nothing
    assert not tmp_files(run)
    for line in (run / "metrics.jsonl").read_text().splitlines():
        json.loads(line)  # no half-written line either


def test_a_full_tmpfs_keeps_the_last_checkpoint(small_fs, points_csv, reference, capsys, monkeypatch):
    size = (reference / ckpt.CHECKPOINT_FILE).stat().st_size
    filler = _fill(small_fs, leave=size + size // 2 + 3 * 4096)  # room for one checkpoint, not two
    before = _spy_checkpoints(monkeypatch)
    run = small_fs / "run"
    fails_in_one_line(capsys, ["train", str(points_csv), "--out", str(run), *SETTINGS],
                      "checkpoint.safetensors: cannot write (No space left on device)", "--resume")
    assert len(before) >= 2
    _assert_intact(run, before)
    filler.unlink()
    monkeypatch.undo()
    assert main(["train", str(points_csv), "--out", str(run), *SETTINGS, "--resume"]) == 0
    assert_same_checkpoint(reference, run)


@pytest.mark.parametrize("suffix", [".npy", ".csv"])
def test_samples_that_do_not_fit_leave_no_file(small_fs, reference, suffix, capsys):
    _fill(small_fs, leave=100_000)  # 100,000 2-D samples take 800 kB as .npy, ~2 MB as .csv
    out = small_fs / f"s{suffix}"
    fails_in_one_line(capsys, ["sample", str(reference), "-n", "100000", "--out", str(out), "--quiet",
                               "--batch-size", "20000", "--sampler", "euler", "--steps", "2"],
                      f"{out}: cannot write", "No space left on device")
    assert sorted(os.listdir(small_fs)) == ["filler"]


def test_a_read_only_file_system(small_fs, points_csv, reference, capsys):
    run = small_fs / "run"
    assert main(["train", str(points_csv), "--out", str(run), *SETTINGS]) == 0
    subprocess.run(["mount", "-o", "remount,ro", str(small_fs)], check=True)
    fails_in_one_line(capsys, ["train", str(points_csv), "--out", str(run), *SETTINGS, "--resume"],
                      "cannot write here (Read-only file system)")
    fails_in_one_line(capsys, ["sample", str(reference), "-n", "10", "--out", str(small_fs / "s.npy")],
                      "cannot write", "Read-only file system")
    assert main(["sample", str(run), "-n", "10", "--out", str(reference.parent / "s.npy"), "--force"]) == 0


def _failing_fsync(monkeypatch, code, after: int):
    """``os.fsync`` fails with ``code`` from its ``after``-th call on."""
    calls, real = [], os.fsync

    def fsync(fd):
        calls.append(fd)
        if len(calls) > after:
            raise OSError(code, os.strerror(code))
        return real(fd)
    monkeypatch.setattr(os, "fsync", fsync)


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT, errno.EROFS])
def test_a_failing_checkpoint_write_is_one_line(code, points_csv, reference, tmp_path, capsys, monkeypatch):
    before = _spy_checkpoints(monkeypatch)
    real = ckpt.save_tensors
    run = tmp_path / "run"

    def fail_third(path, tensors, metadata):  # the checkpoints of steps 0 and 5 go through
        if len(before) == 2:
            _failing_fsync(monkeypatch, code, after=0)
        return real(path, tensors, metadata)
    monkeypatch.setattr(ckpt, "save_tensors", fail_third)
    fails_in_one_line(capsys, ["train", str(points_csv), "--out", str(run), *SETTINGS],
                      f"checkpoint.safetensors: cannot write ({os.strerror(code)})")
    assert len(before) == 3 and ckpt.load_tensors(run / ckpt.CHECKPOINT_FILE)[1]["step"] == 5
    _assert_intact(run, before)
    monkeypatch.undo()
    assert main(["train", str(points_csv), "--out", str(run), *SETTINGS, "--resume"]) == 0
    assert_same_checkpoint(reference, run)


@pytest.mark.parametrize("suffix", [".npy", ".csv", ".png"])
def test_a_failing_sample_write_is_one_line(suffix, reference, tmp_path, capsys, monkeypatch):
    out = tmp_path / f"s{suffix}"
    out.write_bytes(b"the user's old file")
    _failing_fsync(monkeypatch, errno.EDQUOT, after=0)
    fails_in_one_line(capsys, ["sample", str(reference), "-n", "50", "--out", str(out), "--force"],
                      f"{out}: cannot write", "Disk quota exceeded")
    assert out.read_bytes() == b"the user's old file" and not tmp_files(tmp_path)
    monkeypatch.undo()
    assert main(["sample", str(reference), "-n", "50", "--out", str(out), "--force"]) == 0
    assert suffix != ".npy" or np.load(out).shape == (50, 2)
