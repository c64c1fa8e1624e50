import sys

from brainlib.cli import main

sys.exit(main())
