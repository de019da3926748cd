"""``python -m metainv`` = the ``metainv`` console script."""

import sys

from metainv.cli import main

sys.exit(main())
