"""``python -m bot``: the command line (see bot/frontends/cli/main.py)."""

import sys

from bot.frontends.cli.main import main

sys.exit(main())
