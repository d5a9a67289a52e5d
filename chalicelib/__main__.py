"""`python -m chalicelib`: the operators' command line (see `chalicelib.cli`)."""

import sys

from chalicelib.cli import main

if __name__ == "__main__":
    sys.exit(main())
