"""`learnbot dispatch` in a process whose app clock reads a fixed moment: `python dispatch_at.py ISO-8601`.

For tests whose data are written for one moment (a Monday 14:00, say) that may lie ahead of the real
clock: `learnbot dispatch --now <later than now>` only rehearses (SPEC §15), so these move the app's
clock instead, and the whole `dispatch` command runs as an operator's would at that moment.
"""

from __future__ import annotations

import sys
from datetime import datetime

from bot.cli import main
from bot.container import Services

if __name__ == "__main__":
    moment = datetime.fromisoformat(sys.argv[1])
    Services.clock = staticmethod(lambda: moment)  # type: ignore[method-assign]
    sys.exit(main(["dispatch", *sys.argv[2:]]))
