"""Rows for operations tests, stored directly: each test says exactly what the tables hold."""

from __future__ import annotations

from datetime import date, datetime

from prometheus_client.parser import text_string_to_metric_families

from bot.store.models import Job, JobKind, Milestone, Notice, Reminder, Request, RequestStatus, WebhookDelivery


def add_request(session, *, status=RequestStatus.OPEN, created: datetime, closed: datetime | None = None,
                requester="U0REQ", model="content-review", title="Bias for async", milestone_due: date | None = None):
    request = Request(support_model=model, requester_id=requester, title=title, answers={"title": title},
                      status=status, created_at=created, updated_at=created, closed_at=closed)
    if milestone_due is not None:
        request.milestones.append(Milestone(key="review", title="Review", position=0, due_on=milestone_due))
    session.add(request)
    session.flush()
    return request


def add_job(session, request, *, due: datetime, finished: datetime | None = None, kind=JobKind.FILE_ISSUE,
            error: str | None = None):
    job = Job(kind=kind, request_id=request.id, due_at=due, finished_at=finished, last_error=error, created_at=due)
    session.add(job)
    session.flush()
    return job


def add_reminder(session, request, *, due: datetime, sent: datetime | None = None, recipient="U0REQ"):
    reminder = Reminder(milestone_id=request.milestones[0].id, recipient_id=recipient, due_at=due, sent_at=sent,
                        zone_checked=True)
    session.add(reminder)
    session.flush()
    return reminder


def add_notice(session, request, *, key: str, due: datetime, sent: datetime | None = None,
               failed: datetime | None = None):
    notice = Notice(key=key, recipient="U0REQ", text="hello", request_id=request.id if request else None,
                    due_at=due, sent_at=sent, failed_at=failed, created_at=due)
    session.add(notice)
    session.flush()
    return notice


def add_delivery(session, *, key: str, received: datetime, processed: datetime | None = None):
    delivery = WebhookDelivery(idempotency_key=key, event="Issue Hook", payload={}, received_at=received,
                               processed_at=processed, outcome="done" if processed else None)
    session.add(delivery)
    session.flush()
    return delivery


def scrape(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a /metrics page: (name, sorted labels) -> value."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)
