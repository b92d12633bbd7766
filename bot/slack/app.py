"""The Bolt app: request verification, and the listeners of /learn, its modals and buttons.

Listeners run in the request's own thread and Slack gets their answer when they return
(`process_before_response=True`): no hand-off to Bolt's pool and no 10 ms poll for the ack. So
a listener does only local work (validate, read or write the database, build a view) and hands
every call to Slack or GitLab to `services.after_answer`, whose lanes nothing here waits for.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.authorization import AuthorizeResult
from slack_sdk import WebClient

from bot.after_answer import Answers
from bot.container import Services
from bot.gateways.slack import SlackFailure
from bot.slack.listeners import (
    actions,
    after_launch,
    commands,
    decisions,
    feedback,
    home,
    people,
    reminder_settings,
    reminders,
    shortcuts,
    views,
    workflow,
)


class _SameTokenNotice(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN by itself and warns that the client's token wins over it. Ours is
    the client built from that same setting (with retry handlers and SLACK_API_URL): not news."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


class _NoBodies(logging.Filter):
    """Bolt writes request bodies into a few log lines (a bad signature, an unhandled request): the
    line is kept, the body is not. A body may hold anything a person typed, or an attacker's junk."""

    MARKERS = (" body: ", "Unhandled request (", "for the request (", "request body: ")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        for marker in self.MARKERS:
            at = message.find(marker)
            if at >= 0:
                record.msg, record.args = message[: at + len(marker)] + "(body not logged)", ()
                break
        return True


class _Identity:
    """Who the bot is (auth.test), learnt after an answer rather than before one.

    Bolt's single-workspace mode calls auth.test on the first request, in the request's thread,
    and again on every request while Slack is slow or down: answers would wait on Slack. Here the
    token is the bot's own setting, and the ids auth.test tells (used to ignore the bot's own
    events) are fetched once off the answering path.
    """

    def __init__(self, services: Services):
        self.services = services
        self.token = (services.settings.slack_bot_token.get_secret_value()
                      if services.settings.slack_bot_token else None)
        self.known: dict[str, Any] = {}
        self._asking = threading.Lock()

    def _learn(self) -> None:
        try:
            self.known, _scopes = self.services.slack.whoami()
        except SlackFailure as exc:
            logging.getLogger(__name__).warning("auth.test failed (%s); asked again on the next request", exc)
        finally:
            self._asking.release()

    def authorizer(self) -> Callable[..., AuthorizeResult]:
        # A plain function: Bolt passes arguments by the names it finds in the signature.
        def authorize(enterprise_id: str | None, team_id: str | None, user_id: str | None) -> AuthorizeResult:
            if not self.known and self._asking.acquire(blocking=False) and not self.services.after_answer.submit(
                    "slack.auth_test", self._learn):
                self._asking.release()
            return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, user_id=user_id,
                                   bot_token=self.token, bot_user_id=self.known.get("user_id"),
                                   bot_id=self.known.get("bot_id"), team=self.known.get("team"),
                                   url=self.known.get("url"))

        return authorize


class LearnbotApp(App):
    """Bolt's App, whose every dispatch counts as an answer being worked out.

    With `process_before_response=True` a listener runs inside `dispatch`, after every middleware
    has returned (a global middleware's `next()` only marks the chain done), so the window that
    makes after-answer work wait for a gap must wrap `dispatch` itself. Both ways in go through
    here: the HTTP edge (bot.web) calls it, and so does Bolt's Socket Mode adapter.
    """

    def __init__(self, *args: Any, answers: Answers, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._answers = answers

    def dispatch(self, req: BoltRequest) -> BoltResponse:
        with self._answers:
            return super().dispatch(req)


def create_bolt_app(services: Services) -> App:
    settings = services.settings
    identity = _Identity(services)
    app = LearnbotApp(
        answers=services.after_answer.answering(),
        # Without a token of its own Bolt asks `authorize` (local) instead of calling auth.test.
        # Listeners do not use Bolt's client: Slack calls go through services.slack, after the answer.
        client=WebClient(base_url=settings.slack_api_url),
        authorize=identity.authorizer(),
        signing_secret=settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None,
        # HTTP requests are verified once, at the edge (bot.web: signature + 5-minute window, with
        # slack_sdk's SignatureVerifier) before anything is parsed, and handed over parsed; Socket
        # Mode requests arrive over the authenticated socket and are never served over HTTP (bot.cli).
        request_verification_enabled=False,
        token_verification_enabled=False,
        process_before_response=True,
        logger=_bolt_logger(),
    )
    commands.register(app, services)
    views.register(app, services)
    actions.register(app, services)
    reminders.register(app, services)
    home.register(app, services)
    decisions.register(app, services)
    shortcuts.register(app, services)
    reminder_settings.register(app, services)
    after_launch.register(app, services)
    feedback.register(app, services)
    people.register(app, services)
    workflow.register(app, services)
    return app


def _bolt_logger() -> logging.Logger:
    logger = logging.getLogger("bot.slack")
    for wanted in (_SameTokenNotice, _NoBodies):
        if not any(isinstance(f, wanted) for f in logger.filters):
            logger.addFilter(wanted())
    return logger
