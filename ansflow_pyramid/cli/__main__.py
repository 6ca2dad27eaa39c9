"""``python -m ansflow_pyramid.cli`` is the ``ansflow`` command."""

import sys

from ansflow_pyramid.cli import main

sys.exit(main())
