"""`python -m livegen` runs the command line."""

import sys

from livegen.cli import main

sys.exit(main())
