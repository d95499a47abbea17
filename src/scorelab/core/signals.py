"""Polite stops: SIGINT (Ctrl-C) and SIGTERM (a scheduler's stop) as exceptions, or deferred to
a moment when stopping leaves nothing half done.

A process stopped by signal ``s`` exits with the shell's convention 128 + s: 130 for SIGINT,
143 for SIGTERM. Python's own handling turns SIGINT into ``KeyboardInterrupt`` at any bytecode
and lets SIGTERM kill the process outright, with no chance to save or clean up; the two context
managers here replace that, in the main thread only (elsewhere they do nothing, as Python allows
handlers in the main thread alone), and restore the previous handlers on exit.
"""
import contextlib
import signal
import threading

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """Stopped by signal ``signum``; ``exit_code`` is 128 + signum, ``str()`` one line for the user.
    ``resumable``: a checkpoint was saved and ``--resume`` continues from it."""

    def __init__(self, signum: int, message: str | None = None, resumable: bool = False):
        self.signum, self.exit_code, self.resumable = signum, 128 + signum, resumable
        super().__init__(message or f"interrupted by {signal_name(signum)}")


def signal_name(signum: int) -> str:
    return signal.Signals(signum).name


@contextlib.contextmanager
def _handlers(handler):
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, handler) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


_FIRED = []  # the signal that began this stop, shared by both ways of handling it


@contextlib.contextmanager
def signals_raise():
    """Within: the first SIGINT or SIGTERM raises :class:`Interrupted` where the program is;
    later ones (also after a :class:`StopRequest` stopped) are ignored, so that the clean-up in
    ``finally`` blocks (removing a temporary file, say) and the final message run to their end."""
    _FIRED.clear()

    def handler(signum, frame):
        if not _FIRED:
            _FIRED.append(signum)
            raise Interrupted(signum)
    with _handlers(handler):
        yield


class StopRequest:
    """``with StopRequest() as stop:`` records the first SIGINT/SIGTERM in ``stop.signum``
    instead of raising, so that a loop can stop between two steps. A second signal raises
    :class:`Interrupted` at once, unless it arrives inside ``with stop.protected():`` (a write
    that must finish), where it is only recorded."""

    def __init__(self):
        self.signum = None
        self._protected = 0
        self._handlers = None

    def _handle(self, signum, frame):
        if self.signum is None or self._protected:
            self.signum = self.signum or signum
            _FIRED.append(signum)
            return
        raise Interrupted(signum, f"interrupted by a second {signal_name(signum)} before the "
                          "checkpoint of this step; --resume continues from the last one")

    @contextlib.contextmanager
    def protected(self):
        self._protected += 1
        try:
            yield
        finally:
            self._protected -= 1

    def __enter__(self):
        self._handlers = _handlers(self._handle)
        self._handlers.__enter__()
        return self

    def __exit__(self, *exc):
        return self._handlers.__exit__(*exc)
