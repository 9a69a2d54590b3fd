"""``python -m scoregen`` is the ``scoregen`` command."""

import sys

from scoregen.cli import main

sys.exit(main())
