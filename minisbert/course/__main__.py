"""`python -m minisbert.course list | make | grade | check`: the course kit on its own (jobs.py)."""

import sys

from .jobs import main

sys.exit(main())
