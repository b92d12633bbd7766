"""`learnbot dispatch` in a process whose app clock reads a fixed moment: `python dispatch_at.py ISO-8601`.

For tests whose data are written for one moment (a Monday 14:00, say) that may lie ahead of the real
clock: `learnbot dispatch --now <later than now>` only rehearses (SPEC §15), so these move the app's
clock instead, and the whole `dispatch` command runs as an operator's would at that moment.
"""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from datetime import datetime

from bot.cli import main
from bot.container import Services
from bot.gateways import pace

if __name__ == "__main__":
    moment = datetime.fromisoformat(sys.argv[1])
    # STANDIN_PACE_SCALE=10: a Slack stand-in with 10 times Slack's tiers (FakeSlack(rate_scale=10)), kept to alike.
    scale = float(os.environ.get("STANDIN_PACE_SCALE") or 1)
    def scaled(rules: tuple[pace.Rule, ...]) -> tuple[pace.Rule, ...]:
        return tuple(replace(r, limit=max(int(r.limit * scale), 1)) for r in rules)

    post_message_rules = pace.post_message_rules
    pace.post_message_rules = lambda per_minute=pace.POSTS_PER_MINUTE: scaled(post_message_rules(per_minute))
    pace.METHOD_RULES.update({method: scaled(rules) for method, rules in pace.METHOD_RULES.items()})
    Services.clock = staticmethod(lambda: moment)  # type: ignore[method-assign]
    sys.exit(main(["dispatch", *sys.argv[2:]]))
