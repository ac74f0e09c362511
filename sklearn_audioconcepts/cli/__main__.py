"""``python -m sklearn_audioconcepts.cli``: the command line, as before the split."""

import sys

try:
    from . import main
except KeyboardInterrupt:  # Ctrl-C before main's own handler is in place
    print("interrupted", file=sys.stderr)
    sys.exit(130)

sys.exit(main())
