"""``python -m ridgeline.ops``: the operator commands without the root CLI."""

import sys

from ridgeline.ops.cli import main

sys.exit(main())
