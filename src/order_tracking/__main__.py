"""Entry point for `python -m order_tracking`."""

import sys

from order_tracking.cli import main

sys.exit(main())
