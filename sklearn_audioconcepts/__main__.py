"""``python -m sklearn_audioconcepts``: the command line."""

import sys

from .cli import main

sys.exit(main())
