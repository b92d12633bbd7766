"""The `learnbot` command: migrate, serve, worker, dispatch, digest, check, report."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bot import __version__
from bot.catalog import CatalogError, LoadedCatalog, load_catalog
from bot.config import (
    ConfigError,
    Settings,
    channel_id_problem,
    hide_password,
    load_settings,
    mask_credentials,
    misspelt_variables,
    require_all,
)
from bot.store.migrate import DatabaseUnavailable, MigrationsMissing

if TYPE_CHECKING:
    from bot.container import Services
    from bot.ops.serving import DatabaseWait

log = logging.getLogger("bot")

DESCRIPTION = """\
learnbot runs the L&D team's support requests from Slack: /learn opens a form, the bot files a
templated GitLab issue, plans the milestones and keeps Slack and GitLab in step.

Settings come from the environment or a .env file (see README, 'Settings')."""


def _iso(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not an ISO-8601 time; use e.g. 2026-12-01T09:00:00+01:00"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (0-65535)")
    return port


def _threads(value: str) -> int:
    try:
        threads = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of threads") from None
    if not 1 <= threads <= 1024:
        raise argparse.ArgumentTypeError(f"{threads} threads cannot serve anything; use 1 to 1024 (default: 8)")
    return threads


def _rehearsable(sub: Any, name: str, does: str, rehearsal: str) -> argparse.ArgumentParser:
    """A command with --now and --dry-run: a --now ahead of the real clock only rehearses (SPEC §15)."""
    parser: argparse.ArgumentParser = sub.add_parser(
        name, help=does, description=f"{does[0].upper()}{does[1:]}. A --now later than the real clock is a "
                                     f"rehearsal: it {rehearsal}.")
    parser.add_argument("--now", type=_iso, help="act as if it were this time (ISO-8601; default: now); a time "
                                                 "ahead of the real clock only rehearses")
    parser.add_argument("--dry-run", action="store_true", help=f"rehearse: {rehearsal}")
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="learnbot", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"learnbot {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    sub.add_parser("migrate", help="upgrade the database to the newest schema (Alembic)")

    serve = sub.add_parser("serve", help="the web process: /slack/events, /gitlab/webhook, /healthz, /metrics")
    serve.add_argument("--host", default="0.0.0.0", help="interface to listen on (default: 0.0.0.0)")
    serve.add_argument("--port", type=_port, default=None,  # None: the PORT setting (bot.config)
                       help="port to listen on (default: $PORT or 3000)")
    serve.add_argument("--threads", type=_threads, default=8,
                       help="threads of the HTTP server that answer requests (1-1024, default: 8)")
    serve.add_argument("--socket", action="store_true",
                       help="take Slack events over Socket Mode (needs SLACK_APP_TOKEN); HTTP then serves only "
                            "the GitLab webhook, /healthz and /metrics (no /slack/events)")

    worker = sub.add_parser("worker", help="the background process: runs dispatch every minute, and the digest on "
                                           "LEARNBOT_DIGEST_CRON")
    worker.add_argument("--metrics-port", type=_port, default=None,
                        help="serve this process's Prometheus metrics (passes, reminders, retries, Slack and GitLab "
                             "calls) on http://HOST:PORT/metrics (default: not served)")
    worker.add_argument("--metrics-host", default="0.0.0.0",
                        help="interface for --metrics-port (default: 0.0.0.0)")

    _rehearsable(sub, "dispatch", "one pass of all due background work, then exit",
                 "prints what would be due then and sends, purges and records nothing")
    digest = _rehearsable(sub, "digest", "post the channel digest now (on demand), then exit",
                          "prints the digest and posts and records nothing")
    digest.add_argument("--channel", help="channel id to post to (default: LEARNBOT_DIGEST_CHANNEL)")

    check = sub.add_parser(
        "check", help="is everything ready? settings, catalogue (every template rendered), database; exit 2 if not",
        description="Check what `serve` and `worker` need: the settings, the catalogue (every template of every "
                    "model rendered with sample answers, every form and message checked against Block Kit), "
                    "and the database (reachable, migrations current). "
                    "Prints one line per problem, naming the setting and the fix, and exits 2 if there is one.")
    check.add_argument("--online", action="store_true",
                       help="also call Slack (auth.test; the token's scopes against manifest.yml) and read the "
                            "GitLab project with the token")

    # --- operations (issue 12): requests, show, retry, cancel, preview (bot/ops/cli.py) -------------
    from bot.ops import cli as ops_cli

    ops_cli.add_commands(sub)
    from bot.ops import report_cli  # the L&D leader's report (issue 17)

    report_cli.add_command(sub)
    return parser


# What each long-running command needs, and why: named all at once when any is missing (bot.config.require_all).
_SLACK_AND_GITLAB = (
    ("slack_bot_token", "to talk to Slack (xoxb-…, Slack app → OAuth & Permissions → Bot User OAuth Token)"),
    ("gitlab_token", "to open issues (a token with the api scope that can create issues in GITLAB_PROJECT)"),
    ("gitlab_project", "to know where issues go (the L&D project's numeric id or full path)"),
)
_HTTP = ("slack_signing_secret", "to verify requests from Slack in HTTP mode (Slack app → Basic Information → "
                                 "Signing Secret); or set SLACK_APP_TOKEN and run `learnbot serve --socket`")
_SOCKET = ("slack_app_token", "for --socket (Socket Mode): an app-level token xapp-… with connections:write")


def main(argv: Sequence[str] | None = None) -> int:
    try:
        code = _main(argv)
        sys.stdout.flush()  # stdout to a pipe is buffered: a reader gone fails here, not at exit
        return code
    except BrokenPipeError:
        # The reader went away (`learnbot show 5 | head -3`): not an error of ours. Python flushes stdout
        # again at exit; pointing it at /dev/null keeps that from raising a second time.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a command killed by SIGPIPE


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    from bot.observability import configure_logging

    # LEARNBOT_LOG_FORMAT=text|json; re-read from Settings (and .env) once they load.
    configure_logging(log_format=os.environ.get("LEARNBOT_LOG_FORMAT", "text"), verbose=args.verbose)
    if not args.verbose and args.command != "migrate":
        logging.getLogger("alembic").setLevel(logging.WARNING)  # its "Context impl …" lines are noise here
    try:
        return _run(args)
    except (ConfigError, CatalogError, MigrationsMissing, DatabaseUnavailable) as exc:
        for line in mask_credentials(str(exc)).splitlines():
            print(f"learnbot: error: {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _run(args: argparse.Namespace) -> int:
    settings = load_settings()
    if args.command != "check":  # check prints them among its warnings
        for line in misspelt_variables(os.environ):
            log.warning(line)
    catalog = load_catalog(settings.learnbot_catalog)
    # --- operations (issue 12): the log format from Settings, and the operator's commands --------
    from bot.observability import configure_logging
    from bot.ops import cli as ops_cli

    configure_logging(log_format=settings.learnbot_log_format, verbose=args.verbose)
    if args.command in ops_cli.COMMANDS:
        return ops_cli.run(args, settings, catalog)

    if args.command == "check":
        return _check(settings, catalog, online=args.online)
    if args.command == "report":  # the database only: no Slack or GitLab settings needed
        from bot.ops import report_cli

        return report_cli.run(args, settings, catalog)

    if args.command != "migrate":
        # A template that fails only with real answers would fail every request of its model: refuse to start.
        from bot.ops.preflight import check_catalog

        problems = check_catalog(catalog, today=datetime.now(UTC).date())
        if problems:
            raise CatalogError("\n".join(problems))

    from bot.store.migrate import ensure_current, upgrade, wait_for_database

    if args.command == "migrate":
        upgrade(settings.database_url)
        print(f"database at the newest schema ({hide_password(settings.database_url)})")
        return 0

    from bot.container import build_services

    if args.command == "serve":
        return _run_serve(args, settings, catalog)
    require_all(settings, _SLACK_AND_GITLAB)
    if args.command == "worker":  # a long-running process outlives a database restart: it waits
        if args.metrics_port is not None:  # first: Prometheus sees the process up while it waits
            from bot.ops.serving import serve_worker_metrics

            serve_worker_metrics(host=args.metrics_host, port=args.metrics_port)
        wait_for_database(settings.database_url, meanwhile="no background work runs until then")
    ensure_current(settings.database_url)
    services = build_services(settings, catalog=catalog)
    if args.command == "digest":
        return _run_digest(args, services)
    if args.command == "dispatch":
        return _run_dispatch(args, services)
    if args.command == "worker":
        return _run_worker(services)
    raise AssertionError(args.command)


def _run_serve(args: argparse.Namespace, settings: Settings, catalog: LoadedCatalog) -> int:
    from bot.container import build_services
    from bot.store.migrate import ensure_current

    require_all(settings, [_SOCKET if args.socket else _HTTP, *_SLACK_AND_GITLAB])
    if args.port is None:
        args.port = settings.port
    # A database that is down is waited for off the serving thread: /healthz answers meanwhile and
    # /readyz says 503 until the database answers with a schema this code runs on.
    from bot.ops.serving import check_database_when_it_answers

    waiting = None
    try:
        ensure_current(settings.database_url)
    except DatabaseUnavailable as exc:
        if not exc.transient:
            raise
        waiting = check_database_when_it_answers(settings.database_url)
    return _serve(build_services(settings, catalog=catalog), args, waiting)


def _run_digest(args: argparse.Namespace, services: Services) -> int:
    from bot.services.digest import DigestError

    if args.channel and channel_id_problem(args.channel):
        raise ConfigError(f"--channel {channel_id_problem(args.channel)}")

    real = services.clock()
    at = args.now or real
    try:
        if args.dry_run or at > real:  # a clock moved ahead is a rehearsal (SPEC §15)
            channel, built = services.digest.rehearse(now=at, channel=args.channel)
            print(f"rehearsal of the digest to {channel} at {at.isoformat()} (the real time is "
                  f"{real.isoformat()}): not posted, nothing recorded")
            print(built.heading)
            for part in built.sections:
                print(f"  {part.title}: {part.count}")
            return 0
        posted = services.digest.post_now(now=at, channel=args.channel)
    except DigestError as exc:
        print(f"learnbot: error: {exc}", file=sys.stderr)
        return 1
    print(f"digest posted to {posted.channel} (ts {posted.ts})")
    return 0


def _run_dispatch(args: argparse.Namespace, services: Services) -> int:
    from bot.ops import shutdown

    dispatcher = services.dispatcher
    real = services.clock()
    at = args.now or real
    if args.dry_run or at > real:  # a clock moved ahead is a rehearsal (SPEC §15): nothing sent or written
        print("\n".join(dispatcher.rehearse(now=at, real=real).lines()))
        return 0
    shutdown.install()  # SIGTERM: finish the item in hand, release the rest of the batch, exit
    report = dispatcher.run_once(now=at)
    print("\n".join(report.lines()))
    return 1 if report.errors else 0


def _run_worker(services: Services) -> int:
    from bot.ops import shutdown
    from bot.worker import build_scheduler

    # SIGTERM (a deploy, `docker stop`): the pass under way finishes the item in hand and hands
    # the rest of its claimed batch back (bot/ops/shutdown.py); then the scheduler exits.
    shutdown.install(on_stop=lambda: sys.exit(0))
    log.info("worker started: dispatch every minute")
    with contextlib.suppress(KeyboardInterrupt, SystemExit):
        build_scheduler(services, services.dispatcher).start()
    log.info("worker stopped")
    return 0


def _check(settings: Settings, catalog: LoadedCatalog, *, online: bool) -> int:
    from bot.ops.preflight import run_checks

    findings = run_checks(settings, catalog, today=datetime.now(UTC).date(), online=online)
    for line in findings.ok:
        print(f"ok: {line}")
    for line in [*findings.warnings, *misspelt_variables(os.environ)]:
        print(f"warning: {line}")
    for line in findings.errors:
        print(f"learnbot: error: {mask_credentials(line)}", file=sys.stderr)
    if findings.errors:
        print(f"{len(findings.errors)} problem{'s' if len(findings.errors) > 1 else ''} to fix", file=sys.stderr)
        return 2
    print("ready" + ("" if online else " (add --online to try the Slack and GitLab tokens)"))
    return 0


def _serve(services: object, args: argparse.Namespace, waiting: DatabaseWait | None = None) -> int:
    from bot.slack.app import create_bolt_app
    from bot.web import GITLAB_BODY_MAX, create_web_app

    bolt_app = create_bolt_app(services)  # type: ignore[arg-type]
    # Socket Mode: Slack's requests come over the authenticated socket, and HTTP serves no
    # /slack/events at all (an unverified endpoint there would let anyone act as anyone).
    web_app = create_web_app(services, None if args.socket else bolt_app)  # type: ignore[arg-type]
    if args.socket:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        token = services.settings.slack_app_token.get_secret_value()  # type: ignore[attr-defined]
        SocketModeHandler(bolt_app, token).connect()
        log.info("connected to Slack over Socket Mode; HTTP serves only /gitlab/webhook, /healthz, /readyz, /metrics")
    # A thread answering Slack that gets back from the database waits for Python's lock while an
    # after-answer thread computes; by default up to 5 ms each time. 1 ms keeps answers moving.
    sys.setswitchinterval(0.001)
    log.info("learnbot serving on http://%s:%s with %d threads", args.host, args.port, args.threads)
    from bot.ops.serving import serve_until_stopped

    # waitress refuses bodies past this itself, before the app sees them (the routes' own limits are lower).
    serve_until_stopped(web_app, services, host=args.host, port=args.port, threads=args.threads,  # type: ignore[arg-type]
                        max_body=GITLAB_BODY_MAX + 1024, stop=waiting.refused if waiting else None)
    if waiting is not None and waiting.problem:
        for line in waiting.problem.splitlines():
            print(f"learnbot: error: {line}", file=sys.stderr)
        return 2
    return 0
