"""Module names of the previous release, kept for one release: each still imports, and the
first use of one of its names warns (``DeprecationWarning``) and hands over the name from the
module it moved to."""
import importlib
import sys
import types
import warnings

MOVED = {
    "scorelab.sampling": ("scorelab.samplers.named",),
    "scorelab.inpaint": ("scorelab.samplers.inpainting",),
    "scorelab.metrics": ("scorelab.evaluation.metrics",),
    "scorelab.likelihood": ("scorelab.evaluation.likelihood",),
    "scorelab.partition": ("scorelab.evaluation.partition",),
    "scorelab.frechet": ("scorelab.evaluation.frechet", "scorelab.data.classifier",
                         "scorelab.evaluation.images"),
    "scorelab.utils": ("scorelab.core.contract", "scorelab.core.tensors"),
}


class MovedModule(types.ModuleType):
    """Stands in for a moved module; looks each name up in the modules it moved to."""

    def __init__(self, name: str, targets: tuple):
        super().__init__(name, f"Moved to {', '.join(targets)}.")
        self._targets = targets

    def __getattr__(self, attr: str):
        if attr.startswith("__"):
            raise AttributeError(attr)
        for target in self._targets:
            module = importlib.import_module(target)
            if hasattr(module, attr):
                warnings.warn(f"{self.__name__}.{attr} moved to {target}.{attr}; the old name "
                              "goes in the next release", DeprecationWarning, stacklevel=2)
                return getattr(module, attr)
        raise AttributeError(f"module {self.__name__!r} has no attribute {attr!r}")


def register() -> None:
    """Make the old module names importable (``import scorelab.metrics`` finds the stand-in)."""
    for name, targets in MOVED.items():
        sys.modules.setdefault(name, MovedModule(name, targets))


def moved(name: str):
    """``scorelab.<name>`` for an old module name, else ``AttributeError``."""
    full = f"scorelab.{name}"
    if full in MOVED:
        return sys.modules[full]
    raise AttributeError(f"module 'scorelab' has no attribute {name!r}")
