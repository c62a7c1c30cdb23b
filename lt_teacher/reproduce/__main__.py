"""``python -m lt_teacher.reproduce ...`` = ``lt-teacher reproduce ...``."""

import sys

from .command import main

sys.exit(main())
