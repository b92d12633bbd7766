"""The same need from several teams (§16): similar requests found when one is filed, shown to its deciders,
linked in GitLab (`relates_to`) when they ask, and grouped into clusters for the report.

Found once, in the filing job's transaction (never while Slack waits for an answer), against one bounded
query: the newest CANDIDATES requests of the last WINDOW. The rule is bot.domain.similarity; how its
threshold was calibrated is docs/similar-requests.md. The GitLab links are one kind of owed work
(LINK_SIMILAR) run by the one runner: a link GitLab already holds (409, or found after a lost answer)
is not made again.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import metrics
from bot.catalog import LoadedCatalog, SupportModel
from bot.domain import decisions as rules
from bot.domain import similarity
from bot.gateways.gitlab import GitLabGateway, GitLabRejected, GitLabUnavailable
from bot.services import runner
from bot.services.decisions.card import Cards, posted_message
from bot.services.decisions.deciders import Deciders
from bot.services.decisions.owed import OwedWrites
from bot.store import jobs
from bot.store.db import Database
from bot.store.models import JobKind, Request, RequestStatus, SimilarRequest
from bot.store.queues import JOBS

log = logging.getLogger(__name__)
WINDOW = timedelta(days=180)  # "open or recent": what is older than half a year is another conversation
CANDIDATES = 500  # the newest requests of the window compared against; bounds the filing job's cost
TITLE_FIELDS = ("title", "topic")  # the answer the issue's title is made from
ALREADY = "These requests are already linked as related in GitLab."


def text_of(model: SupportModel | None, title: str, answers: dict[str, Any]) -> similarity.Text:
    """What a request says about its need: the title the requester typed (not the issue's, whose
    "Creator Kit:" or "Live Learning:" prefix every request of a model shares), and its long answers."""
    typed = next((str(answers[f]) for f in TITLE_FIELDS if isinstance(answers.get(f), str) and answers[f]), title)
    body = [str(answers[f.id]) for f in (model.fields if model else ()) if f.type == "long_text" and answers.get(f.id)]
    return similarity.Text(typed, " ".join(body))


class SimilarService:
    def __init__(self, *, db: Database, catalog: LoadedCatalog, gitlab: GitLabGateway, cards: Cards,
                 deciders: Deciders, owed: OwedWrites):
        self.db = db
        self.catalog = catalog
        self.gitlab = gitlab
        self.cards = cards
        self.deciders = deciders
        self.owed = owed  # the deciders' message is redrawn by decisions' own job
        self.handlers = [runner.Kind(JobKind.LINK_SIMILAR.value, JOBS, self._link, retry_said="deferred",
                                     part="similar requests")]

    # --- found when a request is filed ------------------------------------------------------------

    def find(self, s: Session, request: Request, *, now: datetime) -> list[tuple[int, float]]:
        """Store the earlier requests that read like this one (in the caller's transaction): one query."""
        rows = s.execute(
            select(Request.id, Request.title, Request.answers, Request.support_model)
            .where(Request.created_at >= now - WINDOW, Request.id != request.id,
                   Request.status != RequestStatus.FAILED)
            .order_by(Request.created_at.desc(), Request.id.desc()).limit(CANDIDATES)).all()
        candidates = {rid: text_of(self.catalog.model(key), title, answers or {})
                      for rid, title, answers, key in rows}
        new = text_of(self.catalog.model(request.support_model), request.title, request.answers or {})
        found = similarity.similar(new, candidates)
        known = set(s.scalars(select(SimilarRequest.similar_id).where(SimilarRequest.request_id == request.id))
                    ) if found else set()  # filed once, but a pair is never stored twice
        s.add_all(SimilarRequest(request_id=request.id, similar_id=similar_id, score=score, found_at=now)
                  for similar_id, score in found if similar_id not in known)
        if found:
            log.info("request %s resembles %s", request.id, ", ".join(str(i) for i, _ in found))
        return found

    # --- a decider presses Link as related (after the answer: network allowed) ---------------------

    def link(self, request_id: int, *, user_id: str, now: datetime) -> str:
        """Ask for the GitLab links (stored, then owed); what the presser is told privately."""
        with self.db.session() as s:
            request = s.get(Request, request_id)
            if request is None:
                return "This request no longer exists."
            r = self.cards.route_of_request(request)
        members = self.deciders.members_to_check(user_id, r, [], now=now)
        if not rules.may_decide(user_id, r, admins=self.deciders.admins, group_members=members):
            who = "L&D admins" if r.usergroup is None else f"L&D admins and {r.team}"
            return f"Only {who} can link this request's similar requests, so nothing was changed."
        with self.db.session() as s:
            unlinked = list(s.scalars(select(SimilarRequest).where(
                SimilarRequest.request_id == request_id, SimilarRequest.linked_at.is_(None))
                .with_for_update()))
            if not unlinked:
                return ALREADY
            for pair in unlinked:
                pair.linked_at = now
            jobs.enqueue_or_wake(s, kind=JobKind.LINK_SIMILAR, request_id=request_id, due_at=now)
            if posted_message(s, request_id) is not None:  # the card says they are linked
                jobs.enqueue_or_wake(s, kind=JobKind.DECISION_MESSAGE, request_id=request_id, due_at=now)
        return f":link: Linking {len(unlinked)} similar request{'s' if len(unlinked) > 1 else ''} as related in GitLab."

    def after_link(self, request_id: int, *, now: datetime) -> runner.Result | None:
        """Make the owed links now rather than at the worker's next pass, and redraw the card."""
        with self.db.session() as s:
            job_id = jobs.job_id(s, kind=JobKind.LINK_SIMILAR, request_id=request_id)
        done = runner.run_now(self.db, self.handlers[0], job_id, now=now) if job_id is not None else None
        self.owed.run_for(request_id, JobKind.DECISION_MESSAGE, now=now)
        return done

    def _link(self, claim: runner.Claim, now: datetime) -> runner.Outcome:
        """One request's asked-for links: each made once (GitLab keeps one link per pair of issues)."""
        with self.db.session() as s:
            request = s.get(Request, claim.request_id)
            assert request is not None
            iid = request.gitlab_iid
            targets = [(r.gitlab_iid, r.gitlab_url) for r in s.scalars(
                select(Request).join(SimilarRequest, SimilarRequest.similar_id == Request.id)
                .where(SimilarRequest.request_id == claim.request_id, SimilarRequest.linked_at.is_not(None))
                .order_by(Request.id)) if r.gitlab_iid is not None]
        if iid is None:
            return runner.Wait(now + timedelta(minutes=1), "issue not filed yet")
        made = 0
        try:
            # A try after a lost answer looks first: the link may be there already.
            there = self.gitlab.linked_urls(iid) if claim.attempt > 1 else set()
            for target_iid, url in targets:
                if url not in there and self.gitlab.link_issues(iid, target_iid):
                    made += 1
        except GitLabUnavailable as exc:
            metrics.GITLAB_ERRORS.labels("unavailable").inc()
            return runner.Retry(str(exc), after=exc.retry_after, said="deferred")
        except GitLabRejected as exc:
            metrics.GITLAB_ERRORS.labels("rejected").inc()
            return runner.GiveUp(str(exc))
        return runner.Done("linked", f"#{iid}: {made} link(s) made, {len(targets) - made} already there")

    # --- the report -----------------------------------------------------------------------------




def clusters_found(s: Session, start: datetime, end: datetime) -> list[list[int]]:
    """The groups of similar requests found in [start, end) (a range of ix_similar_requests_found_at)."""
    pairs = s.execute(select(SimilarRequest.request_id, SimilarRequest.similar_id).where(
        SimilarRequest.found_at >= start, SimilarRequest.found_at < end)).all()
    return similarity.clusters((a, b) for a, b in pairs)
