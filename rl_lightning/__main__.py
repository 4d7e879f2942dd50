"""``python -m rl_lightning ...``: the ``rl-lightning`` command (see :mod:`rl_lightning.cli`)."""

import sys

from rl_lightning.cli import main

sys.exit(main())
