"""Decision rules (§12): the states of a request, who decides it, its GitLab label, capacity and the waitlist."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from bot.catalog import Option, SupportModel
from bot.domain.routing import selected_options

LD_SCOPE = "ld"
LD_LABEL_SCOPE = "ld-status"
LXP_LABEL_SCOPE = "lxp"


class State(StrEnum):
    NEW = "new"
    ACCEPTED = "accepted"
    WAITLISTED = "waitlisted"
    DECLINED = "declined"
    NEEDS_INFO = "needs-info"
    APPROVED = "approved"
    CHANGES_REQUESTED = "changes-requested"


class Verb(StrEnum):
    ACCEPT = "accept"
    WAITLIST = "waitlist"
    DECLINE = "decline"
    ASK = "ask"
    APPROVE = "approve"
    REQUEST_CHANGES = "request_changes"


RESULT = {
    Verb.ACCEPT: State.ACCEPTED, Verb.WAITLIST: State.WAITLISTED, Verb.DECLINE: State.DECLINED,
    Verb.ASK: State.NEEDS_INFO, Verb.APPROVE: State.APPROVED, Verb.REQUEST_CHANGES: State.CHANGES_REQUESTED,
}
LD_VERBS = (Verb.ACCEPT, Verb.WAITLIST, Verb.DECLINE, Verb.ASK)
LXP_VERBS = (Verb.APPROVE, Verb.REQUEST_CHANGES, Verb.DECLINE)
# Still waiting for a decision: the deciders' buttons stay on the message.
UNDECIDED = frozenset({State.NEW, State.NEEDS_INFO, State.WAITLISTED, State.CHANGES_REQUESTED})
# Work the team carries: what capacity counts.
IN_PROGRESS = frozenset({State.ACCEPTED, State.APPROVED})
# Verbs whose modal will not submit without text (the reason, the question).
TEXT_REQUIRED = frozenset({Verb.DECLINE, Verb.REQUEST_CHANGES, Verb.ASK})
# Answers the requester gives with the Reply button.
ASKING = frozenset({State.NEEDS_INFO, State.CHANGES_REQUESTED})

VERB_LABEL = {
    Verb.ACCEPT: "Accept", Verb.WAITLIST: "Waitlist", Verb.DECLINE: "Decline", Verb.ASK: "Ask",
    Verb.APPROVE: "Approve for GitLab Learn", Verb.REQUEST_CHANGES: "Request changes",
}
STATE_LABEL = {
    State.NEW: "Waiting for a decision", State.ACCEPTED: "Accepted", State.WAITLISTED: "Waitlisted",
    State.DECLINED: "Declined", State.NEEDS_INFO: "Question asked", State.APPROVED: "Approved for GitLab Learn",
    State.CHANGES_REQUESTED: "Changes requested",
}


@dataclass(frozen=True)
class Route:
    """Who decides a request, where, and against which capacity."""

    scope: str  # "ld" or "lxp:<audience>"
    team: str  # shown to people: "L&D", "Partner Enablement" …
    lxp: bool  # an LXP contribution: Approve / Request changes / Decline, `lxp::` labels
    usergroup: str | None = None
    channel: str | None = None  # None: LEARNBOT_TRIAGE_CHANNEL
    capacity: int | None = None
    # The requester's answer that chose this team ("Who is contributing?", "Partners"): the deciders see it,
    # since whoever fills in the form picks who decides it.
    chosen_by: tuple[str, str] | None = None


def route(model: SupportModel, answers: Mapping[str, Any], *, ld_capacity: int | None) -> Route:
    """The approving team of an LXP contribution (by contributor audience, §3), else the L&D team."""
    for field in model.fields:
        chosen = selected_options(model, answers).get(field.id)
        if isinstance(chosen, Option) and chosen.team:
            return Route(scope=f"lxp:{chosen.value}", team=chosen.team, lxp=True, usergroup=chosen.usergroup,
                         channel=chosen.channel, capacity=chosen.capacity, chosen_by=(field.label, chosen.label))
    return Route(scope=LD_SCOPE, team="L&D", lxp=False, capacity=ld_capacity)


def verbs(r: Route, state: str) -> tuple[Verb, ...]:
    if state not in UNDECIDED:
        return ()
    if r.lxp:
        return LXP_VERBS
    return tuple(v for v in LD_VERBS if not (v is Verb.WAITLIST and state == State.WAITLISTED))


def may_decide(user_id: str, r: Route, *, admins: Iterable[str], group_members: Iterable[str] = ()) -> bool:
    """L&D admins decide everything; an approving team's user group decides its own audience."""
    if user_id in set(admins):
        return True
    return r.usergroup is not None and user_id in set(group_members)


def deciding_own(user_id: str, owners: Iterable[str], r: Route, *, admins: Iterable[str],
                 group_members: Iterable[str] = ()) -> bool:
    """True when a decider would decide a request they own (made it, or are named on it) although
    someone else can decide it: only the only decider decides their own request."""
    if user_id not in set(owners):
        return False
    deciders = set(admins) | (set(group_members) if r.usergroup is not None else set())
    return bool(deciders - {user_id})


def status_label(r: Route, state: str) -> str:
    return f"{LXP_LABEL_SCOPE if r.lxp else LD_LABEL_SCOPE}::{state}"


def scope_of(label: str) -> str | None:
    """GitLab's scope of a scoped label: everything before the last '::' ("ld-status" of "ld-status::new")."""
    return label.rsplit("::", 1)[0] if "::" in label else None


def state_in_labels(r: Route, labels: Iterable[str]) -> State | None:
    """The decision state an issue's labels say (someone set the scoped label in GitLab), if any."""
    prefix = f"{LXP_LABEL_SCOPE if r.lxp else LD_LABEL_SCOPE}::"
    for label in labels:
        if label.startswith(prefix):
            try:
                return State(label[len(prefix):])
            except ValueError:
                return None
    return None


@dataclass(frozen=True)
class Capacity:
    in_progress: int
    limit: int | None

    @property
    def full(self) -> bool:
        return self.limit is not None and self.in_progress >= self.limit

    def text(self) -> str:
        if self.limit is None:
            return f"{self.in_progress} in progress"
        return f"{self.in_progress} of {self.limit} in progress"


def waitlist_place(queue: Sequence[int], request_id: int) -> int | None:
    """1-based place of a request in its team's waitlist (oldest waitlisting first)."""
    return queue.index(request_id) + 1 if request_id in queue else None


def overdue_for_decision(created_at: datetime, decide_within: int | None, now: datetime) -> bool:
    return decide_within is not None and now - created_at >= timedelta(days=decide_within)


def decision_text(state: str, created_at: datetime, now: datetime | None = None) -> str:
    """How a request stands, for lists (Home, /learn mine, digest): undecided ones with their age."""
    try:
        known = State(state)
    except ValueError:
        return state
    if known is State.NEW:
        return "waiting for a decision" + (f", {age_text(created_at, now)}" if now is not None else "")
    return STATE_LABEL[known].lower() if known is not State.APPROVED else "approved for GitLab Learn"


def age_text(created_at: datetime, now: datetime) -> str:
    days = (now - created_at).days
    return "today" if days < 1 else f"{days} day{'s' if days != 1 else ''}"
