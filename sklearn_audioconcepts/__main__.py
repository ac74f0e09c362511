"""``python -m sklearn_audioconcepts``: the command line."""

import sys

try:
    from .cli import main
except KeyboardInterrupt:  # Ctrl-C before main's own handler is in place
    print("interrupted", file=sys.stderr)
    sys.exit(130)

sys.exit(main())
