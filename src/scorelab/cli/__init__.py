"""The ``scorelab`` command line: train, sample, eval, plot, inpaint, demo, experiment, playground.

Every failure a user can cause (a bad file, value, option or run directory) ends with one line
``scorelab: error: ...`` on stderr and exit code 2, never a traceback (set SCORELAB_DEBUG=1 to
see one). SIGINT and SIGTERM end a command with one line and exit code 130 or 143;
``train`` first checkpoints its current step and prints the command that continues it.

scorelab changes no process-wide setting. OpenMP's wait policy is the user's choice: the
default (workers spin briefly) suits one busy process, and the U-Net trains about twice as fast
with it as with ``OMP_WAIT_POLICY=PASSIVE`` on two cores; ``PASSIVE`` suits several processes
sharing a few cores, where spinning workers make small tensor operations many times slower.
"""
import os

import argparse  # noqa: E402
import shlex  # noqa: E402
import sys  # noqa: E402

from .._version import __version__  # noqa: E402
from ..core.signals import Interrupted, signals_raise  # noqa: E402
from . import demo, evaluate, experiment, inpaint, playground, plot, sample, train  # noqa: E402

COMMANDS = {"train": train, "sample": sample, "eval": evaluate, "plot": plot,
            "inpaint": inpaint, "demo": demo, "experiment": experiment,
            "playground": playground}


class UsageError(Exception):
    """A command-line usage error (reported in one line, exit code 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line instead of usage + error
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="scorelab", description=__doc__.splitlines()[0],
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"scorelab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, module in COMMANDS.items():
        p = sub.add_parser(name, help=module.HELP, description=module.HELP, epilog=getattr(module, "EPILOG", None),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(p)
        p.set_defaults(handler=module.run)
    return parser


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    with signals_raise():  # kept while the error is reported: a second signal cannot cut it off
        try:
            args = build_parser().parse_args(argv)
            if not getattr(args, "handler", None):
                build_parser().print_help()
                return 2
            return args.handler(args) or 0
        except Interrupted as e:
            again = [a for a in argv if a not in ("--force", "--resume")] + ["--resume"]
            hint = f" ({shlex.join(['scorelab', *again])})" if e.resumable else ""
            print(f"scorelab: {e}{hint}", file=sys.stderr)
            return e.exit_code
        except KeyboardInterrupt:
            print("scorelab: interrupted", file=sys.stderr)
            return 130
        except SystemExit as e:  # --help / --version
            return e.code if isinstance(e.code, int) else 0
        except Exception as e:  # noqa: BLE001 - the contract: one line, exit 2
            if os.environ.get("SCORELAB_DEBUG"):
                raise
            msg = " ".join(str(e).split()) or type(e).__name__
            if isinstance(e, (MemoryError, RecursionError)):
                msg = f"{type(e).__name__}: {msg}"
            print(f"scorelab: error: {msg}", file=sys.stderr)
            return 2
