"""Who may decide a request (§12): L&D admins, and an approving team's Slack user group for its own audience;
nobody decides their own request while someone else can.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from bot.catalog import SupportModel
from bot.domain import decisions as rules
from bot.domain.decisions import Route, State
from bot.domain.routing import co_owners
from bot.gateways.slack import SlackGateway
from bot.store.db import Database
from bot.store.models import Request, Usergroup

GROUP_TTL = timedelta(minutes=10)


class Deciders:
    def __init__(self, *, db: Database, slack: SlackGateway, admins: frozenset[str]):
        self.db = db
        self.slack = slack
        self.admins = admins

    def refresh_group(self, usergroup: str, *, now: datetime, force: bool = False) -> list[str]:
        """The user group's members, from the cache when fresh (a network call: after the answer only)."""
        with self.db.session() as s:
            cached = s.get(Usergroup, usergroup)
            if cached is not None and not force and now - cached.refreshed_at < GROUP_TTL:
                return list(cached.members)
        members = self.slack.usergroup_members(usergroup)
        with self.db.session() as s:
            row = s.get(Usergroup, usergroup)
            if row is None:
                s.add(Usergroup(id=usergroup, members=members, refreshed_at=now))
            else:
                row.members, row.refreshed_at = members, now
        return members

    def members_to_check(self, user_id: str, r: Route, owners: list[str], *, now: datetime) -> list[str]:
        """Before a modal opens: the group's members, when they say whether this person decides, or whether
        anyone else could (an admin deciding their own request)."""
        if r.usergroup and (user_id not in self.admins or user_id in owners):
            return self.refresh_group(r.usergroup, now=now)
        return []

    def refusal(self, user_id: str, r: Route, owners: list[str], members: list[str]) -> str | None:
        """Why this person may not decide this request (shown privately), or None."""
        if not rules.may_decide(user_id, r, admins=self.admins, group_members=members):
            who = "L&D admins" if r.usergroup is None else f"L&D admins and {r.team}"
            return f"Only {who} can decide this request, so nothing was changed."
        if rules.deciding_own(user_id, owners, r, admins=self.admins, group_members=members):
            who = "another L&D admin" if r.usergroup is None else f"another L&D admin or someone in {r.team}"
            return (f"This is your own request (you made it or are named on it), so {who} decides it. "
                    "Nothing was changed.")
        return None


def cached_members(s: Session, usergroup: str | None) -> list[str]:
    """The members learnbot last saw (no network: a modal's submission is answered from the store)."""
    if usergroup is None:
        return []
    row = s.get(Usergroup, usergroup)
    return list(row.members) if row is not None else []


def owners(request: Request, model: SupportModel | None) -> list[str]:
    """Whose the request is: the requester and the people it names (co-owners, hosts)."""
    named = co_owners(model, request.answers or {}, request.requester_id) if model is not None else []
    return [request.requester_id, *named]


def already_decided(request: Request) -> str:
    label = rules.STATE_LABEL.get(State(request.decision_state), request.decision_state)
    by = f" by <@{request.decided_by}>" if request.decided_by and request.decided_by[:1] in ("U", "W") else ""
    when = f" at {request.decided_at.strftime('%Y-%m-%d %H:%M')} UTC" if request.decided_at else ""
    return f"This request was already decided{by}{when}: *{label}*. Nothing was changed."
