"""Block Kit for "when is my turn" (§16): the likely week in lists, and the DM when it moves."""

from __future__ import annotations

from datetime import date

from bot.domain.safe_text import slack_plain
from bot.domain.turns import LikelyWeek, week_text
from bot.messages.kit import Block, context, link, section

HOW = ("Worked out from the requests ahead of yours and how many the team finished in the last 90 days; "
       "a likely week, not a promise.")


def turn_text(likely: LikelyWeek, today: date) -> str:
    """"Your turn: likely the week of 11 Jan" (or this week, or not enough history yet)."""
    return f":hourglass_flowing_sand: Your turn: {likely.text(today)}"


def likely_week_moved(*, title: str, url: str | None, likely: LikelyWeek, was: date | None,
                      today: date) -> tuple[str, list[Block]]:
    """The requester's DM when their likely week moved by a week or more (or can be said at last)."""
    what = slack_plain(title, 300)
    ref = link(url, title) if url else f"“{what}”"
    before = f" (it was the week of {week_text(was, today)})" if was is not None else ""
    lead = f":calendar: Your request {ref}: its turn is now {likely.text(today)}{before}."
    return f"Your request “{what}”: {likely.text(today)}", [section(lead), context(HOW)]
