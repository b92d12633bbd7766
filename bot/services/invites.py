"""Calendar invites for live sessions (§17): each host's .ics in their DM, updated and cancelled, sent once.

One CALENDAR_INVITE job per request (bot/store/jobs.py), woken when the request is filed, its date moves,
it is closed or declined. The job works out what the invite should say now; if that differs from the last
version (bot/domain/invites.fingerprint) it stores a new version, SEQUENCE + 1, one row per host, before
uploading anything. Each row is marked sent as soon as its file is shared, so a retry uploads only the rest.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.catalog import LoadedCatalog, SupportModel
from bot.domain import invites as rules
from bot.gateways.slack import SlackGateway, SlackRefused, SlackSetupWrong, SlackUnavailable, Upload
from bot.services.notices import slack_outcome
from bot.services.people import PeopleService
from bot.services.runner import Claim, Done, Kind, Outcome
from bot.store import jobs
from bot.store.db import Database
from bot.store.invites import CalendarInvite
from bot.store.models import JobKind, Request, RequestStatus
from bot.store.queues import JOBS

log = logging.getLogger(__name__)
DECLINED = "declined"


@dataclass(frozen=True)
class _Owed:
    row_id: int
    recipient: str
    method: rules.Method
    sequence: int
    ics: bytes
    session: rules.Session


class InviteService:
    def __init__(self, *, db: Database, catalog: LoadedCatalog, slack: SlackGateway, people: PeopleService,
                 domain: str):
        self.db = db
        self.catalog = catalog
        self.slack = slack
        self.people = people
        self.domain = domain  # the UID's right-hand side: the deployment's GitLab host
        self.handlers = [Kind(JobKind.CALENDAR_INVITE.value, JOBS, self._work, part="invites")]

    # --- what is owed (in the caller's transaction) --------------------------------------------

    def owe(self, s: Session, request: Request, *_: object) -> list[int]:
        """The request changed (filed, moved, closed, declined): its invite job runs at once, if its model
        sends invites. Due at the request's creation, a moment no clock in any test or worker is before."""
        model = self.catalog.model(request.support_model)
        if model is not None and model.invite is not None and request.gitlab_iid is not None:
            jobs.enqueue_or_wake(s, kind=JobKind.CALENDAR_INVITE, request_id=request.id, due_at=request.created_at)
        return []

    # --- the job --------------------------------------------------------------------------------

    def _work(self, claim: Claim, now: datetime) -> Outcome:
        assert claim.request_id is not None
        owed = self._versioned(claim.request_id, now)
        sent = 0
        for item in owed:
            outcome = self._send(item, now, tried=claim.attempt > 1)
            if outcome is not None:
                return outcome
            sent += 1
        return Done("sent" if sent else "up to date", f"{sent} invite(s)" if sent else "")

    def _versioned(self, request_id: int, now: datetime) -> list[_Owed]:
        """Store a new version if the invite should say something else now; the latest version's unsent rows."""
        with self.db.session() as s:  # names may ask Slack: not inside the transaction that writes
            request = s.get(Request, request_id)
            model = self.catalog.model(request.support_model) if request is not None else None
            if request is None or model is None or model.invite is None:
                return []
            people = [request.requester_id, *_hosts(model, request)]
        names = self.people.names(people, now=now)
        with self.db.session() as s:
            request = s.get(Request, request_id)
            if request is None:
                return []
            session = self._session(s, request, model, names)
            if session is None:
                return []
            rows = list(s.scalars(select(CalendarInvite).where(CalendarInvite.request_id == request_id)
                                  .order_by(CalendarInvite.sequence)))
            latest = rows[-1] if rows else None
            ended = request.status in (RequestStatus.CLOSED, RequestStatus.FAILED) or request.decision_state == DECLINED
            method: rules.Method = "CANCEL" if ended else "REQUEST"
            if ended and (latest is None or latest.method == "CANCEL"):
                pass  # never invited (or already cancelled): nothing to cancel
            elif latest is None or latest.fingerprint != rules.fingerprint(session, method):
                sequence = 0 if latest is None else latest.sequence + 1
                # A cancel reaches everyone the last version reached too (a host removed since).
                told = {r.recipient_id for r in rows if r.sequence == latest.sequence} if latest else set()
                recipients = [h.user_id for h in session.hosts] + sorted(told - {h.user_id for h in session.hosts})
                new = [CalendarInvite(request_id=request_id, sequence=sequence, method=method, recipient_id=r,
                                      fingerprint=rules.fingerprint(session, method), created_at=now)
                       for r in dict.fromkeys(recipients)]
                s.add_all(new)
                s.flush()
                rows.extend(new)
            if not rows:
                return []
            top = rows[-1].sequence
            return [_Owed(r.id, r.recipient_id, r.method, r.sequence,  # type: ignore[arg-type]
                          rules.build_ics(session, method=r.method, sequence=r.sequence,  # type: ignore[arg-type]
                                          domain=self.domain, stamp=r.created_at), session)
                    for r in rows if r.sequence == top and r.sent_at is None and r.error is None]

    def _session(self, s: Session, request: Request, model: SupportModel,
                 names: dict[str, str]) -> rules.Session | None:
        spec = model.invite
        assert spec is not None
        starts, minutes = request.answers.get(spec.starts), request.answers.get(spec.minutes)
        if not starts or not str(minutes or "").isdigit():
            return None
        try:
            moment = datetime.fromisoformat(str(starts))
        except ValueError:
            return None
        if moment.tzinfo is None:  # stored answers are aware (validation.to_json); a naive one is no moment
            return None
        hosts = _hosts(model, request)
        organiser = rules.Host(request.requester_id, names.get(request.requester_id, request.requester_id))
        return rules.Session(
            request_id=request.id, starts=moment, minutes=int(str(minutes)),
            summary=str(request.answers.get(spec.summary) or request.title), issue_url=request.gitlab_url,
            organiser=organiser, organiser_zone=self.people.zone_in(s, request.requester_id).key,
            hosts=tuple(rules.Host(h, names.get(h, h)) for h in hosts))

    def _send(self, item: _Owed, now: datetime, *, tried: bool) -> Outcome | None:
        """Share one host's file; None when it is done (sent, or refused for this host alone).

        `tried`: an earlier attempt may have shared it and lost the answer; the DM is looked at first."""
        local = item.session.starts.astimezone(self.people.zone(item.recipient))
        text = rules.dm_text(item.session.summary, method=item.method, sequence=item.sequence, local=local,
                             minutes=item.session.minutes)
        title = f"Calendar invite: {' '.join(item.session.summary.split())[:120]}"
        name = rules.file_name(item.session.request_id, item.method, item.sequence)
        try:
            found = self.slack.find_file_in_dm(item.recipient, name) if tried else None
            if found is not None:
                self._settle(item.row_id, sent_at=now, file_id=found)
                return None
            channel = self.slack.dm_channel(item.recipient)
            ids = self.slack.upload_files(channel, [Upload(name, item.ics, title)], comment=text)
        except SlackRefused as exc:
            log.warning("invite %s to %s refused: %s", item.row_id, item.recipient, exc.code)
            self._settle(item.row_id, error=exc.code)
            return None
        except (SlackUnavailable, SlackSetupWrong) as exc:
            return slack_outcome(exc, now=now)
        self._settle(item.row_id, sent_at=now, file_id=ids[0] if ids else None)
        return None

    def _settle(self, row_id: int, *, sent_at: datetime | None = None, file_id: str | None = None,
                error: str | None = None) -> None:
        with self.db.session() as s:
            row = s.get(CalendarInvite, row_id)
            if row is not None:
                row.sent_at, row.file_id, row.error = sent_at, file_id, error


def _hosts(model: SupportModel, request: Request) -> list[str]:
    """The people of the model's co-owner fields (a live session's hosts), else the requester."""
    people: list[str] = []
    for name in model.co_owner_fields:
        value = request.answers.get(name)
        people.extend([value] if isinstance(value, str) else (value or []))
    return list(dict.fromkeys(people)) or [request.requester_id]
