"""Atomic file writes: a reader sees the old file or the new one, never half of one."""
import glob
import os
import secrets
from pathlib import Path


def atomic_write(path, write) -> Path:
    """Call ``write(tmp_path)``, then rename the temporary file onto ``path`` (POSIX-atomic).

    The temporary file lives in the same directory (``.NAME.<random>.tmp``); it and then the
    directory are fsynced, so the rename survives a power cut too. The file gets the usual mode
    (0666 less the umask). If ``write`` fails, the temporary file is removed and ``path`` keeps
    its old bytes. Temporary files of ``path`` left by a writer that was killed are removed once
    the rename is done. Parent folders are created.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = str(path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp")
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))  # the umask applies, as to any file
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    remove_stale_temporaries(path.parent, (path.name,))
    return path


def remove_stale_temporaries(directory, names) -> list[Path]:
    """Delete the ``.NAME.*.tmp`` files that writers killed mid-write left in ``directory``."""
    stale = [Path(p) for name in names
             for p in glob.glob(os.path.join(glob.escape(str(directory)), f".{glob.escape(name)}.*.tmp"))]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # e.g. platforms that cannot open a directory
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
