"""Training: configuration, the loop, checkpoints and logging."""
from .checkpoint import CheckpointError
from .config import OPTIONS, ConfigError, make_config, parse_set, parse_toml
from .loop import RunDirError, train
from .run import Run

__all__ = ["train", "Run", "make_config", "parse_toml", "parse_set", "OPTIONS", "ConfigError",
           "CheckpointError", "RunDirError"]
