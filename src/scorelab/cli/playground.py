"""``scorelab playground``: the interactive lecture in the browser (local only)."""
HELP = "start the playground: train, compare score fields and sample in the browser, on 127.0.0.1"
EPILOG = """\
Open the address it prints. The server listens on 127.0.0.1 only and serves every file itself
(no network access is needed); Ctrl-C stops it. Needs the playground extra (pip install 'scorelab[playground]')."""


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise ValueError(f"--port: {text!r} is not a whole number") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"--port: {port} is not between 0 and 65535")
    return port


def add_arguments(p) -> None:
    p.add_argument("--port", type=str, default="8000", help="port on 127.0.0.1 (0: any free port; default 8000)")


def run(args) -> int:
    port = _port(args.port)
    try:
        from ..playground.server import serve
    except ImportError as e:
        raise RuntimeError(f"the playground needs the playground extra: pip install 'scorelab[playground]' ({e})") from None
    try:
        serve(port)
    except OSError as e:
        raise OSError(f"cannot listen on 127.0.0.1:{port}: {e.strerror or e}") from None
    return 0
