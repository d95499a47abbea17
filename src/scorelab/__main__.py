"""``python -m scorelab`` = the ``scorelab`` command."""
import sys

from .cli import main

sys.exit(main())
