"""Builds the process's services from Settings: one database, one catalogue, one client per outside system."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from slack_sdk import WebClient
from sqlalchemy.orm import Session

from bot.after_answer import AfterAnswer
from bot.catalog import LoadedCatalog, load_catalog
from bot.config import Settings
from bot.gateways.gitlab import GitLabGateway
from bot.gateways.pace import Pace
from bot.gateways.slack import SlackGateway, make_web_client
from bot.services.after_launch import AfterLaunchService
from bot.services.decisions import DecisionService
from bot.services.digest import DigestService
from bot.services.dispatch import Dispatcher
from bot.services.feedback import FeedbackService
from bot.services.filing import FilingService
from bot.services.housekeeping import Housekeeping
from bot.services.intake import IntakeService
from bot.services.invites import InviteService
from bot.services.issue_events import IssueEventService
from bot.services.issue_sync import IssueSyncService
from bot.services.named import NamedService
from bot.services.notices import NoticeService
from bot.services.overview import HomeService, OverviewService
from bot.services.people import PeopleService
from bot.services.project_templates import ProjectTemplates
from bot.services.reminders import ReminderService
from bot.services.report import ReportService
from bot.services.report_post import ReportPoster
from bot.services.retention import RetentionService
from bot.services.settings import SettingsService
from bot.services.shortcuts import ShortcutService
from bot.services.similar import SimilarService
from bot.services.turns import TurnService
from bot.services.workflow import WorkflowService
from bot.store.db import Database
from bot.store.models import Request, utcnow


@dataclass
class Services:
    settings: Settings
    db: Database
    catalog: LoadedCatalog
    web_client: WebClient
    slack: SlackGateway
    gitlab: GitLabGateway
    notices: NoticeService
    people: PeopleService
    intake: IntakeService
    filing: FilingService
    reminders: ReminderService
    sync: IssueSyncService
    issue_events: IssueEventService
    overview: OverviewService
    home: HomeService
    digest: DigestService
    dispatcher: Dispatcher
    after_answer: AfterAnswer
    decisions: DecisionService
    shortcuts: ShortcutService
    reminder_settings: SettingsService
    after_launch: AfterLaunchService
    named: NamedService
    report: ReportService
    report_posts: ReportPoster
    feedback: FeedbackService
    similar: SimilarService  # similar requests (docs/similar-requests.md)
    turns: TurnService | None = None  # when is my turn (§16)
    workflow: WorkflowService | None = None  # the Workflow Builder step (§17)
    invites: InviteService | None = None  # live sessions' calendar invites (§17)

    @staticmethod
    def clock() -> datetime:
        return utcnow()

    def close(self) -> None:
        # Work in hand gets a little time to finish; whatever is a stored job the worker finishes.
        self.after_answer.shutdown(wait=True, timeout=10)
        self.db.dispose()


def build_services(
    settings: Settings, *, catalog: LoadedCatalog | None = None, gitlab_timeout: float = 30.0,
    after_answer: AfterAnswer | None = None, stop: threading.Event | None = None, **db_options: Any
) -> Services:
    """`stop`: set when the process is asked to stop (SIGTERM); the worker finishes the item in hand."""
    if stop is None:
        from bot.ops.shutdown import STOP as stop
    catalog = catalog or load_catalog(settings.learnbot_catalog)
    db = Database(settings.database_url, **db_options)
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    web_client = make_web_client(token, settings.slack_api_url,
                                 pace=Pace(posts_per_minute=settings.learnbot_slack_posts_per_minute))
    slack = SlackGateway(web_client)
    gitlab = GitLabGateway(
        settings.gitlab_url,
        settings.gitlab_token.get_secret_value() if settings.gitlab_token else "",
        settings.gitlab_project or "",
        timeout=gitlab_timeout,
    )
    notices = NoticeService(db=db, slack=slack)
    people = PeopleService(db=db, slack=slack, default_zone=settings.timezone)
    reminders = ReminderService(db=db, catalog=catalog, slack=slack, people=people, admins=settings.admins,
                                reminder_hour=settings.learnbot_reminder_hour, default_zone=settings.timezone)
    turns = TurnService(db=db, catalog=catalog, people=people, default_zone=settings.timezone)
    decisions = DecisionService(db=db, catalog=catalog, slack=slack, gitlab=gitlab, notices=notices,
                                reminders=reminders, admins=settings.admins,
                                channel=settings.learnbot_triage_channel, turns=turns)
    reminders.history = decisions.record_history
    intake = IntakeService(db=db, catalog=catalog, people=people, slack=slack,
                           handbook_prefixes=settings.learnbot_handbook_prefixes, reminders=reminders,
                           decisions=decisions)
    shortcuts = ShortcutService(db=db, catalog=catalog, slack=slack, people=people,
                                thread_reply=settings.learnbot_shortcut_thread_reply)
    similar = SimilarService(db=db, catalog=catalog, gitlab=gitlab, cards=decisions.cards,
                             deciders=decisions.deciders, owed=decisions.owed)
    filing = FilingService(db=db, catalog=catalog, gitlab=gitlab, notices=notices, people=people,
                           admins=settings.admins, shortcuts=shortcuts, similar=similar,
                           templates=ProjectTemplates(gitlab.issue_template))
    sync = IssueSyncService(db=db, gitlab=gitlab)
    issue_events = IssueEventService(db=db, catalog=catalog, notices=notices, reminders=reminders,
                                     relay_notes=settings.learnbot_relay_notes, decisions=decisions,
                                     project=settings.gitlab_project, markers=gitlab.markers)
    overview = OverviewService(db=db, catalog=catalog)
    home = HomeService(overview=overview, people=people, slack=slack, catalog=catalog, admins=settings.admins,
                       turns=turns)
    digest = DigestService(db=db, catalog=catalog, overview=overview, slack=slack,
                           channel=settings.learnbot_digest_channel, cron=settings.learnbot_digest_cron,
                           zone=settings.timezone, gitlab_url=settings.gitlab_url,
                           gitlab_project=settings.gitlab_project)
    after_launch = AfterLaunchService(db=db, catalog=catalog, reminders=reminders, people=people, gitlab=gitlab,
                                      handbook_prefixes=settings.learnbot_handbook_prefixes,
                                      ld_channel=settings.learnbot_digest_channel)
    report = ReportService(db=db, catalog=catalog, zone=settings.timezone)
    report_posts = ReportPoster(db=db, report=report, slack=slack, channel=settings.learnbot_report_channel,
                                cron=settings.learnbot_report_cron, zone=settings.timezone)
    # Outcome check-ins and the rating follow a request's filing, launch date, close and held session.
    feedback = FeedbackService(db=db, catalog=catalog, reminders=reminders, notices=notices)
    # Live sessions' calendar invites follow the filing, a moved date, a close and a decline (§17).
    invites = InviteService(db=db, catalog=catalog, slack=slack, people=people,
                            domain=urlsplit(settings.gitlab_url).hostname or "learnbot.invalid")
    filing.on_filed = _both(feedback.plan_checkins, invites.owe)
    reminders.on_replanned = _both(feedback.plan_checkins, invites.owe)
    reminders.on_closed = lambda s, request, now: [*feedback.on_closed(s, request, now), *invites.owe(s, request)]
    decisions.on_decided = invites.owe
    after_launch.on_session_held = feedback.ask_satisfaction
    named = NamedService(db=db, catalog=catalog, notices=notices)

    def announce(request_id: int, now: datetime) -> None:  # as after a modal's submission (slack/listeners/views)
        decisions.after_submit(request_id, now=now)
        named.send_owed(request_id, now=now)

    workflow = WorkflowService(db=db, catalog=catalog, slack=slack, people=people, intake=intake, filing=filing,
                               notices=notices, announce=announce)
    dispatcher = Dispatcher(filing=filing, sync=sync, reminders=reminders, issue_events=issue_events, digest=digest,
                            notices=notices, decisions=decisions, after_launch=after_launch, feedback=feedback,
                            housekeeping=Housekeeping(
                                db=db, retention=RetentionService(db=db, days=settings.learnbot_retention_days)),
                            stop=stop, people=people, report=report_posts, similar=similar, turns=turns,
                            workflow=workflow, invites=invites)
    return Services(settings=settings, db=db, catalog=catalog, web_client=web_client, slack=slack, gitlab=gitlab,
                    notices=notices, people=people, intake=intake, filing=filing, reminders=reminders, sync=sync,
                    issue_events=issue_events, overview=overview, home=home, digest=digest,
                    dispatcher=dispatcher, after_answer=after_answer or AfterAnswer(), decisions=decisions,
                    shortcuts=shortcuts, similar=similar,
                    reminder_settings=SettingsService(db=db, people=people, reminders=reminders,
                                                      team_hour=settings.learnbot_reminder_hour),
                    after_launch=after_launch, named=named,
                    report=report, report_posts=report_posts, feedback=feedback, turns=turns,
                    workflow=workflow, invites=invites)


def _both(first: Callable[[Session, Request], object],
          second: Callable[[Session, Request], object]) -> Callable[[Session, Request], None]:
    def told(s: Session, request: Request) -> None:
        first(s, request)
        second(s, request)
    return told
