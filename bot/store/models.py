"""Tables of learnbot, as SQLAlchemy 2 typed models."""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Stable constraint names keep Alembic migrations identical on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, also on SQLite (which stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; pass an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), date: Date()}


class RequestStatus(enum.StrEnum):
    FILING = "filing"  # stored; the GitLab issue is being opened (or retried)
    OPEN = "open"
    CLOSED = "closed"
    FAILED = "failed"  # GitLab refused the issue for good; the requester was told why


class Request(Base):
    """A support request made through /learn: the answers, the plan and its GitLab issue."""

    __tablename__ = "requests"
    __table_args__ = (
        # History is free (issue 16): `learnbot requests` reads the newest first from an index, with or
        # without --status, and the digest's "new since" is a range of it, not a sort of every request.
        Index("ix_requests_created", "created_at", "id"),
        Index("ix_requests_status_created", "status", "created_at", "id"),
        # The retention purge finds the requests closed since its last run (bot/services/retention.py).
        Index("ix_requests_closed", "status", "closed_at", postgresql_where=text("closed_at IS NOT NULL"),
              sqlite_where=text("closed_at IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=lambda: uuid.uuid4().hex)
    support_model: Mapped[str] = mapped_column(String(40))
    requester_id: Mapped[str] = mapped_column(String(32), index=True)
    title: Mapped[str] = mapped_column(String(255))
    answers: Mapped[dict[str, Any]]
    status: Mapped[RequestStatus] = mapped_column(
        Enum(RequestStatus, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e]),
        default=RequestStatus.FILING,
    )
    # Slack's view id of the submitted modal: the same submission delivered twice is one request.
    slack_view_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    anchor_date: Mapped[date | None]
    plan_compressed: Mapped[bool] = mapped_column(default=False)
    triage_score: Mapped[int | None]
    gitlab_iid: Mapped[int | None]
    gitlab_url: Mapped[str | None] = mapped_column(String(500))
    # As GitLab last told us (webhook): labels people set on the issue, and its due date.
    labels: Mapped[list[str]] = mapped_column(JSON, default=list, server_default=text("'[]'"))
    due_on: Mapped[date | None]
    filing_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    closed_at: Mapped[datetime | None]

    milestones: Mapped[list[Milestone]] = relationship(
        back_populates="request", order_by="Milestone.position", cascade="all, delete-orphan"
    )

    @property
    def marker(self) -> str:
        """Hidden text in the issue that names this request: found before any re-create."""
        return f"learnbot-request:{self.public_id}"

    # --- decisions (§12) ---------------------------------------------------------------------
    # One of domain.decisions.State. `decision_version` grows with every change of it: a decision
    # is written only `WHERE decision_version = <what the decider saw>`, so two deciders racing
    # (or a redelivered click) make one decision.
    decision_state: Mapped[str] = mapped_column(String(24), default="new", server_default="new")
    decision_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None]
    decision_reason: Mapped[str | None] = mapped_column(Text)
    waitlist_until: Mapped[date | None]
    # GitLab username to assign on Accept (the decider's, remembered per person).
    assignee_username: Mapped[str | None] = mapped_column(String(255))
    decision_nudged_at: Mapped[datetime | None]
    # Who decides: "ld" (the L&D team) or "lxp:<contributor audience>" (that approving team).
    decision_scope: Mapped[str] = mapped_column(String(60), default="ld", server_default="ld")
    # When is my turn (§16, bot/domain/turns.py): the Monday of the likely week last told, and when.
    turn_week: Mapped[date | None]
    turn_told_at: Mapped[datetime | None]


class Milestone(Base):
    """One dated step of a request's plan (e.g. 'first upload to GitLab Learn', launch − 2 weeks)."""

    __tablename__ = "milestones"
    __table_args__ = (
        UniqueConstraint("request_id", "key", name="uq_milestones_request_key"),
        # The digest's evergreen reviews due this week: a range of the steps not done, not every step.
        Index("ix_milestones_pending_key_due", "key", "due_on", postgresql_where=text("done_at IS NULL"),
              sqlite_where=text("done_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(60))
    title: Mapped[str] = mapped_column(String(200))
    position: Mapped[int]
    due_on: Mapped[date]
    pulled_forward: Mapped[bool] = mapped_column(default=False)
    done_at: Mapped[datetime | None]
    done_by: Mapped[str | None] = mapped_column(String(32))

    request: Mapped[Request] = relationship(back_populates="milestones")
    reminders: Mapped[list[Reminder]] = relationship(back_populates="milestone", cascade="all, delete-orphan")


class Reminder(Base):
    """One person's DM about one milestone: due at their local reminder hour, sent exactly once.

    Snoozing makes it due again; re-planning moves it; a done milestone or a closed request
    cancels it.
    """

    __tablename__ = "reminders"
    __table_args__ = (
        UniqueConstraint("milestone_id", "recipient_id", name="uq_reminders_milestone_recipient"),
        # The dispatcher only ever looks at pending reminders by due time: O(due), not O(all).
        Index(
            "ix_reminders_pending_due",
            "due_at",
            postgresql_where=text("sent_at IS NULL AND cancelled_at IS NULL"),
            sqlite_where=text("sent_at IS NULL AND cancelled_at IS NULL"),
        ),
        # The retention purge reads the reminders sent or cancelled since its last run, not all of them.
        Index("ix_reminders_sent_at", "sent_at", postgresql_where=text("sent_at IS NOT NULL"),
              sqlite_where=text("sent_at IS NOT NULL")),
        Index("ix_reminders_cancelled_at", "cancelled_at", postgresql_where=text("cancelled_at IS NOT NULL"),
              sqlite_where=text("cancelled_at IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    milestone_id: Mapped[int] = mapped_column(ForeignKey("milestones.id", ondelete="CASCADE"), index=True)
    recipient_id: Mapped[str] = mapped_column(String(32))
    due_at: Mapped[datetime]
    # False while due_at is only the earliest possible moment (recipient's time zone not known yet).
    zone_checked: Mapped[bool] = mapped_column(default=False)
    # Snoozed reminders are due at a moment, not at the reminder hour of a date in someone's zone.
    snoozed: Mapped[bool] = mapped_column(default=False, server_default=false())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_until: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    slack_channel: Mapped[str | None] = mapped_column(String(32))
    slack_ts: Mapped[str | None] = mapped_column(String(32))
    last_error: Mapped[str | None] = mapped_column(Text)
    # Nudges already sent for a step whose catalogue entry asks for one more reminder (nudge_after_days).
    nudges: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))

    milestone: Mapped[Milestone] = relationship(back_populates="reminders")


class JobKind(enum.StrEnum):
    FILE_ISSUE = "file_issue"
    NOTIFY_FILED = "notify_filed"
    SYNC_CHECKLIST = "sync_checklist"  # write done boxes and dates into the issue description
    CLOSE_ISSUE = "close_issue"
    DECISION_GITLAB = "decision_gitlab"  # the decision's scoped label, assignee and notes on the issue
    DECISION_MESSAGE = "triage_message"  # the deciders' message about a request, updated in place (value as stored)
    POST_NOTES = "post_notes"  # the request's unposted request_notes (follow-up answers, retire) and their labels
    LINK_SIMILAR = "link_similar"  # GitLab `relates_to` links from the issue to its similar requests' issues
    CALENDAR_INVITE = "calendar_invite"  # a live session's .ics to each host's DM (bot/services/invites.py)


class Job(Base):
    """Background work that must not be lost: stored first, claimed by one worker, retried with backoff."""

    __tablename__ = "jobs"
    __table_args__ = (
        # Only unfinished jobs are ever scanned; the partial index keeps that O(due work).
        Index(
            "ix_jobs_pending_due",
            "due_at",
            postgresql_where=text("finished_at IS NULL"),
            sqlite_where=text("finished_at IS NULL"),
        ),
        # Claims name their kinds: without this SQLite takes uq_jobs_kind_request for `kind IN (…)` and
        # reads every job of those kinds ever run (one finished FILE_ISSUE per request of history).
        Index("ix_jobs_pending_kind_due", "kind", "due_at", postgresql_where=text("finished_at IS NULL"),
              sqlite_where=text("finished_at IS NULL")),
        UniqueConstraint("kind", "request_id", name="uq_jobs_kind_request"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[JobKind] = mapped_column(
        Enum(JobKind, native_enum=False, length=32, values_callable=lambda e: [m.value for m in e])
    )
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"))
    due_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_until: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Person(Base):
    """What we cache about a Slack user: their time zone (for local dates and 09:00 reminders) and name."""

    __tablename__ = "people"

    slack_user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    display_name: Mapped[str | None] = mapped_column(String(200))
    tz: Mapped[str | None] = mapped_column(String(64))
    refreshed_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Their GitLab username, asked once when they accept a request and remembered.
    gitlab_username: Mapped[str | None] = mapped_column(String(255))
    # Their own choices (/learn settings); None means "from the time zone" / "the team's hour".
    country: Mapped[str | None] = mapped_column(String(2))
    reminder_hour: Mapped[int | None]
    paused_through: Mapped[date | None]  # on leave: reminders wait for the first working day after


class Digest(Base):
    """One channel digest: the row claims its period, so several workers post it once."""

    __tablename__ = "digests"

    id: Mapped[int] = mapped_column(primary_key=True)
    # "<channel>@<period start ISO>" for the scheduled digest; "<channel>@manual:<uuid>" on demand.
    period_key: Mapped[str] = mapped_column(String(200), unique=True)
    channel: Mapped[str] = mapped_column(String(80), index=True)
    period_start: Mapped[datetime]
    claimed_until: Mapped[datetime | None]
    posted_at: Mapped[datetime | None]
    slack_ts: Mapped[str | None] = mapped_column(String(32))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


class WebhookDelivery(Base):
    """A GitLab webhook delivery: stored before it is answered, so a redelivery changes nothing twice
    and a process that dies before acting on it loses nothing (the worker finishes it)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_pending", "received_at",
              postgresql_where=text("processed_at IS NULL"), sqlite_where=text("processed_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # GitLab's Idempotency-Key (the same across retries of one delivery); a hash of the body without it.
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    event: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_until: Mapped[datetime | None]
    processed_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(200))
    # Acting on it failed unexpectedly this many times (retried with backoff; given up after many).
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    last_error: Mapped[str | None] = mapped_column(Text)


class Notice(Base):
    """A message learnbot owes someone (a DM, a channel post or a thread reply): stored first, in the
    same transaction as the change it reports, then sent exactly once by whoever claims it.

    `key` names what it reports ("filed:12", "issue-event:34:12"), so telling twice is impossible
    even when the code that enqueues it runs twice.
    """

    __tablename__ = "notices"
    __table_args__ = (
        # Only unsent, not given-up notices are ever scanned.
        Index(
            "ix_notices_pending_due",
            "due_at",
            postgresql_where=text("sent_at IS NULL AND failed_at IS NULL"),
            sqlite_where=text("sent_at IS NULL AND failed_at IS NULL"),
        ),
        # The retention purge reads the notices sent since its last run (given up: ix_notices_failed_at).
        Index("ix_notices_sent_at", "sent_at", postgresql_where=text("sent_at IS NOT NULL"),
              sqlite_where=text("sent_at IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    request_id: Mapped[int | None] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"), index=True)
    # A Slack user id (the app's DM with them) or a channel id.
    recipient: Mapped[str] = mapped_column(String(80))
    thread_ts: Mapped[str | None] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    blocks: Mapped[list[Any] | None] = mapped_column(JSON)
    due_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_until: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]  # Slack refused it for good (user gone, channel archived…)
    slack_channel: Mapped[str | None] = mapped_column(String(32))
    slack_ts: Mapped[str | None] = mapped_column(String(32))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DecisionEvent(Base):
    """One step of a request's decision history: decided, asked, answered, or changed in GitLab.

    (request, version) is unique: the conditional UPDATE that moves the request's state and this
    row are one transaction, so a redelivered click or a second decider cannot add a second one.
    Each event becomes a note on the issue (`gitlab_note_at` once written) and a thread reply.
    """

    __tablename__ = "decision_events"
    __table_args__ = (UniqueConstraint("request_id", "version", name="uq_decision_events_request_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))  # decided | asked | answered | gitlab
    state: Mapped[str] = mapped_column(String(24))  # the request's state after it
    actor: Mapped[str] = mapped_column(String(64))  # a Slack user id, or "gitlab:<username>"
    text: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    gitlab_note_at: Mapped[datetime | None]


class Usergroup(Base):
    """Members of an approving team's Slack user group (usergroups.users.list), cached for minutes."""

    __tablename__ = "usergroups"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    members: Mapped[list[str]] = mapped_column(JSON, default=list)
    refreshed_at: Mapped[datetime] = mapped_column(default=utcnow)


class MessageSource(Base):
    """A Slack message someone sent to L&D with the message shortcut: its text pre-fills the form,
    its link goes into the issue. Kept server-side because a message can be far longer than a
    view's private_metadata; the request it became is set at submission."""

    __tablename__ = "message_sources"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32))
    channel_id: Mapped[str] = mapped_column(String(32))
    message_ts: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)  # the message's words as plain text
    extras: Mapped[str] = mapped_column(Text, default="")  # its attachments' text and its files' names
    permalink: Mapped[str | None] = mapped_column(String(500))
    response_url: Mapped[str | None] = mapped_column(String(500))
    request_id: Mapped[int | None] = mapped_column(ForeignKey("requests.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RequestNote(Base):
    """A note learnbot owes the request's GitLab issue (a live session's follow-up, "retire this content"),
    with labels to add: stored with the change it reports, posted exactly once by the POST_NOTES job
    (a hidden, signed marker with the note's id is looked for before any re-post: bot.domain.markers)."""

    __tablename__ = "request_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # "follow-up", "retire", "still-accurate"
    body: Mapped[str] = mapped_column(Text)  # GitLab Markdown, user text already made safe
    add_labels: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    posted_at: Mapped[datetime | None]


class SimilarRequest(Base):
    """An earlier request that reads like this one (bot.domain.similarity), found once when it is filed;
    `linked_at`: a decider asked for the GitLab `relates_to` link (the LINK_SIMILAR job makes it)."""

    __tablename__ = "similar_requests"

    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"), primary_key=True)
    similar_id: Mapped[int] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"), primary_key=True)
    score: Mapped[float] = mapped_column(Float)  # 0–100
    found_at: Mapped[datetime] = mapped_column(index=True)  # the report's clusters are a range of it
    linked_at: Mapped[datetime | None]


class Heartbeat(Base):
    """When a process last finished its loop: the worker writes one per dispatch pass, so the web
    process's /metrics (and an alert) can tell that no worker runs."""

    __tablename__ = "heartbeats"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)  # "dispatch"
    at: Mapped[datetime]


class DirectoryPass(Base):
    """The daily pass over Slack's member list (users.list, a page at a time): every person's time
    zone and name in bulk, so no reminder waits on users.info. A pass spans dispatch passes (Tier 2:
    about 20 pages a minute); the row says where it is, when the last one finished, and who runs it."""

    __tablename__ = "directory_passes"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)  # "users.list"
    cursor: Mapped[str | None] = mapped_column(String(255))  # the next page of a pass under way
    started_at: Mapped[datetime | None]  # the pass under way began (None: none is)
    finished_at: Mapped[datetime | None]  # the last whole pass
    claimed_until: Mapped[datetime | None]  # a worker's lease while it asks for pages


class SchemaWindow(Base):
    """The code revisions that may run on this database's schema (docs/operate.md, "Schema window").

    Rewritten by every migration run (migrations/env.py): the schema's own revision, then each older
    one for as long as the migrations above it declare `backward_compatible = True`. Code whose head
    is listed here is ready on this database even though the schema is newer than it knows."""

    __tablename__ = "schema_window"

    revision: Mapped[str] = mapped_column(String(64), primary_key=True)


# Operations (issue 12): indexes the /metrics gauges and the retention purge read by (each one bounded query).
Index("ix_requests_status", Request.status)
Index("ix_jobs_finished_at", Job.finished_at, postgresql_where=text("finished_at IS NOT NULL"),
      sqlite_where=text("finished_at IS NOT NULL"))
Index("ix_webhook_deliveries_processed_at", WebhookDelivery.processed_at,
      postgresql_where=text("processed_at IS NOT NULL"), sqlite_where=text("processed_at IS NOT NULL"))
Index("ix_notices_failed_at", Notice.failed_at, postgresql_where=text("failed_at IS NOT NULL"),
      sqlite_where=text("failed_at IS NOT NULL"))
