"""`python -m bot` is the same as the `learnbot` console script."""

from bot.cli import main

raise SystemExit(main())
