"""A decision stored (§12): one conditional UPDATE on `decision_version`, its history row, and what it owes.

All of it runs in the caller's transaction (the listener's, before Slack is answered; or the webhook's):
two deciders racing, or a click Slack delivers twice, move the request once, since only the UPDATE that
still finds the version the decider saw changes the row, and the history row's (request, version) is
unique. What the decision owes goes into the same transaction: the requester's DM, a reply in the
message's thread, and the two jobs that bring Slack and GitLab in step (bot/services/decisions/owed.py).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from bot.domain import decisions as rules
from bot.domain.decisions import Route, State, Verb
from bot.domain.limits import too_far
from bot.domain.turns import LikelyWeek
from bot.messages import decisions as messages
from bot.messages.turns import turn_text
from bot.services.decisions.card import thread_of, waitlist
from bot.services.turns import TurnService
from bot.store import jobs
from bot.store import notices as outbox
from bot.store.models import DecisionEvent, JobKind, Person, Request


def form_errors(verb: Verb, text: str | None, username: str | None, until: date | None, *,
                today: date) -> dict[str, str] | None:
    """What the decision modal must correct before anything is stored (shown beside its fields)."""
    if verb in rules.TEXT_REQUIRED and not text:
        what = "question" if verb is Verb.ASK else "reason"
        return {"text": f"Please write the {what}: the requester reads it."}
    if text is not None and len(text) > messages.TEXT_MAX:
        return {"text": f"Please keep it under {messages.TEXT_MAX} characters."}
    if username is not None and not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,254}", username):
        return {"gitlab_username": "A GitLab username has letters, digits, '.', '_' or '-'."}
    if until is not None and until < today:
        return {"until": "Pick a date from today on, or leave it empty."}
    if until is not None and (refusal := too_far(until, today)) is not None:
        return {"until": refusal}
    return None


def move(s: Session, request: Request, *, seen: int, values: dict[str, Any]) -> bool:
    """The race guard: the request moves to version `seen` + 1 only if it is still at `seen`, the version
    the decider (or requester) saw. False: someone else's decision came first; nothing was written."""
    moved: Any = s.execute(update(Request).where(
        Request.id == request.id, Request.decision_version == seen,
    ).values(decision_version=seen + 1, **values).execution_options(synchronize_session=False))
    if moved.rowcount != 1:
        return False
    s.refresh(request)
    return True


def decision_values(verb: Verb, request: Request, *, user_id: str, text: str | None, until: date | None,
                    username: str | None, now: datetime) -> dict[str, Any]:
    state = rules.RESULT[verb]
    return dict(decision_state=state.value, decided_by=user_id, decided_at=now, decision_reason=text,
                waitlist_until=until if state == State.WAITLISTED else None,
                assignee_username=username if state == State.ACCEPTED else request.assignee_username,
                updated_at=now)


def history(s: Session, request: Request, *, kind: str, actor: str, text: str | None, now: datetime,
            gitlab_note_at: datetime | None = None) -> DecisionEvent:
    """The history row of the version the request just moved to (unique per request and version)."""
    event = DecisionEvent(request_id=request.id, version=request.decision_version, kind=kind,
                          state=request.decision_state, actor=actor, text=text, created_at=now,
                          gitlab_note_at=gitlab_note_at)
    s.add(event)
    return event


def remember_gitlab_username(s: Session, user_id: str, username: str, *, now: datetime) -> None:
    """Asked once in the Accept modal, offered again next time."""
    person = s.get(Person, user_id)
    if person is None:
        s.add(Person(slack_user_id=user_id, gitlab_username=username, refreshed_at=now))
    else:
        person.gitlab_username = username


def has_reminders(request: Request) -> bool:
    return any(m.reminders for m in request.milestones)


def owe(s: Session, request: Request, r: Route, event: DecisionEvent, *, now: datetime,
        turns: TurnService | None = None) -> list[int]:
    """The notices and jobs one history event owes, in its transaction; the notices' ids to send."""
    ids: list[int] = []
    if event.kind != "answered":
        queue = waitlist(s, r.scope) if request.decision_state == State.WAITLISTED else []
        likely = _likely(s, request, turns, now) if request.decision_state == State.WAITLISTED else None
        text, blocks = messages.requester_notice(
            title=request.title, url=request.gitlab_url, state=request.decision_state, decider=event.actor,
            reason=event.text, request_id=request.id, version=request.decision_version,
            waitlist_place=rules.waitlist_place(queue, request.id), waitlist_until=request.waitlist_until,
            team=r.team, likely=likely)
        ids.append(outbox.enqueue(s, key=f"decision:{request.id}:{event.version}", recipient=request.requester_id,
                                  text=text, blocks=blocks, request_id=request.id, due_at=now).id)
    thread = thread_of(s, request.id)
    if thread is not None:
        line = messages.history_line(kind=event.kind, state=event.state, actor=event.actor, text=event.text)
        ids.append(outbox.enqueue(s, key=f"history:{request.id}:{event.version}", recipient=thread[0],
                                  thread_ts=thread[1], text=line, request_id=request.id, due_at=now).id)
    jobs.enqueue_or_wake(s, kind=JobKind.DECISION_MESSAGE, request_id=request.id, due_at=now)
    jobs.enqueue_or_wake(s, kind=JobKind.DECISION_GITLAB, request_id=request.id, due_at=now)
    return ids


def _likely(s: Session, request: Request, turns: TurnService | None, now: datetime) -> str | None:
    """A waitlisted request's likely week for its DM, remembered as the week told (§16)."""
    found = turns.for_request(s, request, now=now) if turns is not None else None
    if found is None:
        return None
    week, today = found
    request.turn_week, request.turn_told_at = week.week, now
    return turn_text(week, today)


def tell_waitlist(s: Session, scope: str, before: list[int], *, now: datetime,
                  turns: TurnService | None = None) -> list[int]:
    """Whoever moved up the waitlist is told their new place, once per place, with their likely week."""
    ids = []
    weeks: dict[int, tuple[LikelyWeek, date]] | None = None
    for place, rid in enumerate(waitlist(s, scope), start=1):
        if rules.waitlist_place(before, rid) == place:
            continue
        other = s.get(Request, rid)
        assert other is not None
        if weeks is None:  # read once for all who moved up
            weeks = turns.for_scope(s, scope, now=now) if turns is not None else {}
        likely = None
        if rid in weeks:
            week, today = weeks[rid]
            other.turn_week, other.turn_told_at = week.week, now
            likely = turn_text(week, today)
        text, blocks = messages.waitlist_moved(other.title, place, likely=likely)
        ids.append(outbox.enqueue(s, key=f"waitlist:{rid}:{place}", recipient=other.requester_id, text=text,
                                  blocks=blocks, request_id=rid, due_at=now).id)
    return ids
