"""``python -m lambdagram``."""

import sys

from lambdagram.cli import main

sys.exit(main())
