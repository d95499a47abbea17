"""One writer per run directory: an exclusive ``flock`` on ``RUN/.lock`` while a process trains.

The kernel holds the lock for the open file and drops it when the process ends, however it
ends (a SIGKILL included), so a lock file left by a killed process is stale by construction and
the next trainer takes it over. The file holds the holder's pid and host, for the message a
second trainer gets. On release the holder deletes the file while it still holds the lock; a
trainer that locked a file deleted under it (it opened the file just before) sees that its
descriptor no longer names ``RUN/.lock`` and tries again. Readers (``sample``, ``eval``,
``plot``) take no lock: checkpoints are replaced atomically, so they see the last complete one.

``flock`` is advisory and per host: on network file systems that do not propagate it, two hosts
are not kept apart.
"""
import fcntl
import os
import socket
from pathlib import Path

LOCK_FILE = ".lock"


class RunLockedError(ValueError):
    """The run directory is being trained by another live process."""


class RunLock:
    def __init__(self, run_dir):
        self.path = Path(run_dir) / LOCK_FILE
        self.fd = None

    def acquire(self) -> "RunLock":
        """Take the lock or raise :class:`RunLockedError` naming the process that holds it."""
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 200, 0).decode(errors="replace").split()
                os.close(fd)
                who = (f"process {holder[0]} on {holder[1]}" if len(holder) == 2 and holder[0].isdigit()
                       else "another process")
                raise RunLockedError(f"{self.path.parent}: {who} is training this run right now; "
                                     "wait for it to end or stop it first") from None
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)  # the file was deleted by its releasing holder after we opened it
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(self.fd)
            self.fd = None
