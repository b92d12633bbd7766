"""Block Kit for the App Home tab and `/learn mine`: pure functions from overview data to views."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Generic, TypeVar

from bot.catalog import LoadedCatalog
from bot.domain.decisions import decision_text
from bot.domain.safe_text import slack_escape
from bot.messages.ids import COMMAND, Action
from bot.messages.kit import Block, button, context, header, link, section
from bot.messages.notices import RECORDS_UNREADABLE
from bot.store.models import RequestStatus


@dataclass(frozen=True)
class RequestLine:
    request_id: int
    title: str
    url: str | None
    model_name: str
    requester_id: str
    status: RequestStatus
    created_at: datetime
    score: int | None = None
    when: date | None = None  # the date the plan counts from (launch, session, needed by)
    next_step: str | None = None
    next_due: date | None = None
    has_plan: bool = False
    decision: str = "accepted"  # domain.decisions.State
    scope: str = "ld"  # who decides it (domain.decisions.Route.scope)
    likely: str | None = None  # waiting: its likely week (messages.turns.turn_text)


@dataclass(frozen=True)
class OverdueStep:
    request_id: int
    request_title: str
    url: str | None
    model_name: str
    step: str
    due_on: date
    owners: tuple[str, ...]


T = TypeVar("T")


@dataclass(frozen=True)
class Bounded(Generic[T]):
    shown: list[T]
    total: int

    @property
    def more(self) -> int:
        return self.total - len(self.shown)


def _day(d: date) -> str:
    return f"{d:%a} {d.isoformat()}"


def _title(line: RequestLine | OverdueStep) -> str:
    title = str(getattr(line, "request_title", None) or getattr(line, "title", ""))
    return link(line.url, title) if line.url else f"*{slack_escape(title)}* (being filed)"


def request_line(line: RequestLine, today: date) -> str:
    text = f"{_title(line)} · {slack_escape(line.model_name)}"
    if line.decision not in ("accepted", "approved"):
        text += f" · _{decision_text(line.decision, line.created_at)}_"
    if line.next_step and line.next_due:
        late = " :warning: *overdue*" if line.next_due < today else ""
        text += f"\nNext: {slack_escape(line.next_step)} — {_day(line.next_due)}{late}"
    elif line.has_plan:
        text += "\nEvery step is done. :tada:"
    if line.likely:
        text += f"\n{line.likely}"
    return text


def _mine_blocks(mine: Bounded[RequestLine], today: date, *, with_buttons: bool) -> list[Block]:
    out: list[Block] = []
    if not mine.shown:
        return [section(f"You have no open requests. Start one with `{COMMAND} help` "
                        "or from learnbot's Home tab.")]
    for line in mine.shown:
        accessory = None
        if with_buttons and line.has_plan and line.next_step:
            accessory = button("Change date", Action.REQUEST_CHANGE_DATE, value=str(line.request_id))
        out.append(section(request_line(line, today), accessory))
    if mine.more:
        out.append(context(f"…and {mine.more} more open request{'s' if mine.more != 1 else ''}."))
    return out


def _queue_text(queue: Bounded[RequestLine]) -> str:
    if not queue.shown:
        return "Nothing waiting for triage."
    lines = [f"*{line.score}* · {_title(line)} · {slack_escape(line.model_name)} · <@{line.requester_id}>"
             f" · _{decision_text(line.decision, line.created_at)}_" for line in queue.shown]
    if queue.more:
        lines.append(f"…and {queue.more} more")
    return "\n".join(lines)


def _overdue_text(overdue: Bounded[OverdueStep]) -> str:
    if not overdue.shown:
        return "Nothing overdue. :white_check_mark:"
    lines = [f"{_day(o.due_on)} · {slack_escape(o.step)} · {_title(o)} · "
             + ", ".join(f"<@{u}>" for u in o.owners) for o in overdue.shown]
    if overdue.more:
        lines.append(f"…and {overdue.more} more")
    return "\n".join(lines)


def home_view(catalog: LoadedCatalog, *, mine: Bounded[RequestLine], today: date,
              queue: Bounded[RequestLine] | None = None, overdue: Bounded[OverdueStep] | None = None,
              capacity: str | None = None) -> Block:
    """The Home tab: start buttons, my open requests; for L&D admins also the queue and what is overdue."""
    # Slack refuses an actions block whose action_ids repeat (invalid_blocks): one per model.
    start = [button(f"{m.name}"[:75], f"{Action.START_REQUEST.value}:{m.key}", value=m.key) for m in catalog.models]
    blocks: list[Block] = [
        header("Learning & Development"),
        section("Ask the L&D team for help: pick what you need and fill in the form. "
                f"You can also type `{COMMAND} help` anywhere."),
    ]
    # An actions block holds at most 25 elements.
    blocks.extend({"type": "actions", "block_id": f"start-{i}", "elements": start[i:i + 25]}
                  for i in range(0, len(start), 25))
    blocks += [{"type": "divider"}, header(f"Your open requests ({mine.total})")]
    blocks += _mine_blocks(mine, today, with_buttons=True)
    if queue is not None:
        blocks += [{"type": "divider"}, header(f"Triage queue ({queue.total})"), section(_queue_text(queue))]
        if capacity:
            blocks.append(context(f":bar_chart: L&D capacity: {capacity}"))
    if overdue is not None:
        blocks += [header(f"Overdue steps ({overdue.total})"), section(_overdue_text(overdue))]
    return {"type": "home", "blocks": blocks[:100]}


def home_unavailable_view() -> Block:
    """The Home tab while the database is out of reach: no list to show, and no promise of one."""
    return {"type": "home", "blocks": [header("Learning & Development"), section(f":warning: {RECORDS_UNREADABLE}")]}


def mine_message(mine: Bounded[RequestLine], today: date) -> tuple[str, list[dict[str, Any]]]:
    """`/learn mine`: my open requests, answered only to me."""
    count = f"{mine.total} open request{'s' if mine.total != 1 else ''}"
    blocks = [header(f"Your open requests ({mine.total})"), *_mine_blocks(mine, today, with_buttons=True)]
    return f"You have {count}.", blocks[:50]

