"""Where training reports: a progress bar in a terminal, ``metrics.jsonl``, TensorBoard if installed."""
import json
import os
import sys
from pathlib import Path

from tqdm.auto import tqdm

from .checkpoint import CheckpointWriteError, write_atomically


def show_progress(progress: bool | None) -> bool:
    """Whether to draw a progress bar: ``progress`` if given, else only in a terminal."""
    return sys.stderr.isatty() if progress is None else progress


class MetricsLog:
    """Appends one JSON object per line to ``run_dir/metrics.jsonl`` (and TensorBoard scalars)."""

    def __init__(self, run_dir: Path | None, start_step: int, total: int, progress: bool | None):
        self.path = None if run_dir is None else Path(run_dir) / "metrics.jsonl"
        if self.path is not None:
            self._truncate_after(start_step)
        show = show_progress(progress)
        self.bar = tqdm(total=total, initial=start_step, disable=not show, desc="training",
                        unit="step", dynamic_ncols=True)
        self.tb = self._tensorboard(run_dir)
        self.history = []

    @staticmethod
    def _tensorboard(run_dir):
        if run_dir is None:
            return None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # tensorboard is optional
            return None
        return SummaryWriter(str(Path(run_dir) / "tensorboard"))

    def _truncate_after(self, step: int) -> None:
        """On resume, drop lines logged after the checkpoint we restart from."""
        if not self.path.exists():
            return
        keep = []
        for line in self.path.read_text().splitlines():
            try:
                if json.loads(line).get("step", 0) <= step:
                    keep.append(line)
            except json.JSONDecodeError:
                continue
        text = "".join(f"{line}\n" for line in keep)
        write_atomically(self.path, lambda tmp: Path(tmp).write_text(text))

    def log(self, record: dict) -> None:
        self.history.append(record)
        if self.path is not None:
            self._append(json.dumps(record) + "\n")
        if self.tb is not None:
            for k, v in record.items():
                if k != "step" and isinstance(v, (int, float)):
                    self.tb.add_scalar(k, v, record["step"])
        postfix = {k: f"{v:.4g}" for k, v in record.items() if k in ("loss", "heldout")}
        self.bar.set_postfix(postfix, refresh=False)

    def _append(self, line: str) -> None:
        """Append ``line`` whole or not at all: a failed write (a full disk) is cut off again."""
        data = line.encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            size = os.fstat(fd).st_size
            try:
                while data:
                    data = data[os.write(fd, data):]
            except OSError as e:
                os.ftruncate(fd, size)
                raise CheckpointWriteError(e.errno, f"{self.path}: cannot write ({e.strerror}); the last "
                                           "checkpoint is intact: make room, then --resume") from e
        finally:
            os.close(fd)

    def advance(self, n: int = 1) -> None:
        self.bar.update(n)

    def close(self) -> None:
        self.bar.close()
        if self.tb is not None:
            self.tb.close()
