"""``python -m mlcalc.cli``: the ``mlcalc`` command."""

import sys

from mlcalc.cli import main

sys.exit(main())
