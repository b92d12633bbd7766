"""The operator's subcommands of `learnbot`: requests, show, retry, cancel, preview.

Tables for people, `--json` for scripts. Retry and cancel say what they will do and ask first
(`--yes` skips the question). Exit codes: 0 done, 1 nothing done (declined, or nothing to do),
2 bad input (an unknown request, model or message kind).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Any, TextIO

from bot.store.models import RequestStatus

if TYPE_CHECKING:
    from bot.catalog import LoadedCatalog
    from bot.config import Settings

COMMANDS = ("requests", "show", "retry", "cancel", "preview")
MAX_LIMIT = 10_000


def _limit(value: str) -> int:
    """--limit as argparse checks it: a bad one is a one-line error (exit 2), never a query."""
    try:
        limit = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of requests") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise argparse.ArgumentTypeError(f"{limit} requests cannot be listed; use 1 to {MAX_LIMIT} (default: 50)")
    return limit


def add_commands(sub: Any) -> None:
    """Called from bot.cli.build_parser with its subparsers."""
    requests = sub.add_parser("requests", help="list stored requests, newest first (table, or --json)")
    requests.add_argument("--status", choices=[s.value for s in RequestStatus],
                          help="only requests in this state (filing = waiting to be filed in GitLab)")
    requests.add_argument("--model", help="only requests of this support model (its catalogue key)")
    requests.add_argument("--limit", type=_limit, default=50, help=f"at most this many, 1-{MAX_LIMIT} (default: 50)")
    requests.add_argument("--json", action="store_true", help="one JSON array, for scripts")

    show = sub.add_parser("show", help="one request's whole timeline: stored, filed, notices, reminders, "
                                       "webhook events, errors")
    show.add_argument("id", help="the request's number (or its public id)")
    show.add_argument("--json", action="store_true", help="JSON, for scripts")

    for name, what in (("retry", "make a failed or waiting request's GitLab work and failed messages due now: "
                                 "the worker's next dispatch pass (within a minute) runs them"),
                       ("cancel", "close a request: stop filing, cancel its reminders, close its GitLab issue")):
        cmd = sub.add_parser(name, help=what)
        cmd.add_argument("id", help="the request's number (or its public id)")
        cmd.add_argument("--yes", "-y", action="store_true", help="do it without asking")

    preview = sub.add_parser("preview", help="a Block Kit Builder link for a model's form or any message "
                                             "learnbot sends, built from the catalogue with sample answers")
    preview.add_argument("model", help="a support model's key (see `learnbot check`)")
    preview.add_argument("--message", default="form",
                         help="which surface: form (default), or a message kind; `--message list` lists them")
    preview.add_argument("--json", action="store_true", help="print the view/message JSON instead of a link")


def run(args: argparse.Namespace, settings: Settings, catalog: LoadedCatalog, *,
        out: TextIO | None = None, now: datetime | None = None) -> int:
    out = out or sys.stdout
    if args.command == "preview":
        from bot.ops.preview import UnknownPreview, preview

        try:
            print(preview(catalog, args.model, args.message, as_json=args.json), file=out)
        except UnknownPreview as exc:
            print(f"learnbot: error: {exc}", file=sys.stderr)
            return 2
        return 0

    from bot.services.admin import AdminService, UnknownRequest
    from bot.store.db import Database
    from bot.store.migrate import ensure_current
    from bot.store.models import utcnow

    ensure_current(settings.database_url)
    db = Database(settings.database_url)
    admin = AdminService(db=db)
    now = now or utcnow()
    try:
        if args.command == "requests":
            if args.model and catalog.catalog.model(args.model) is None:
                print(f"learnbot: error: no support model {args.model!r}; the catalogue has "
                      f"{', '.join(catalog.catalog.keys)}", file=sys.stderr)
                return 2
            rows = admin.list_requests(status=args.status, model=args.model, limit=args.limit)
            if args.json:
                print(json.dumps([asdict(r) for r in rows], indent=2), file=out)
            else:
                _table(out, ["ID", "STATUS", "MODEL", "CREATED", "REQUESTER", "TITLE", "ISSUE / ERROR"],
                       [[str(r.id), r.status, r.model, r.created_at[:16].replace("T", " "), r.requester,
                         _cut(r.title, 40), _cut(r.issue or r.error or "", 60)] for r in rows])
                if not rows:
                    print("no requests match", file=out)
            return 0
        if args.command == "show":
            timeline = admin.timeline(args.id)
            if args.json:
                print(json.dumps(timeline.as_dict(), indent=2), file=out)
            else:
                r = timeline.request
                print(f"request {r.id} ({r.public_id}): {r.title}", file=out)
                print(f"  {r.model}, {r.status}, by {r.requester}, stored {r.created_at}", file=out)
                if r.issue:
                    print(f"  issue: {r.issue}", file=out)
                if r.error:
                    print(f"  last error: {r.error}", file=out)
                _table(out, ["WHEN", "WHAT", "DETAIL"],
                       [[(e.at or "-")[:19].replace("T", " "), e.what, e.detail] for e in timeline.events])
            return 0
        plan = admin.plan_retry(args.id, now=now) if args.command == "retry" else admin.plan_cancel(args.id, now=now)
        if plan.empty:
            print(f"nothing to do: {plan.reason}", file=out)
            return 1
        print(f"`learnbot {args.command}` will, for request {plan.request_id}:", file=out)
        for step in plan.steps:
            print(f"  - {step}", file=out)
        if not args.yes and not _confirm(f"{args.command.capitalize()} request {plan.request_id}? [y/N] ", out):
            print("nothing done", file=out)
            return 1
        done = admin.retry(args.id, now=now) if args.command == "retry" else admin.cancel(args.id, now=now)
        print("done" + ("" if args.command == "cancel" else "; the next dispatch pass runs it"), file=out)
        return 0 if not done.empty else 1
    except UnknownRequest as exc:
        print(f"learnbot: error: {exc}", file=sys.stderr)
        return 2
    finally:
        db.dispose()


def _confirm(question: str, out: TextIO) -> bool:
    print(question, end="", file=out, flush=True)
    try:
        answer = input()
    except EOFError:  # not a terminal and no --yes: do nothing
        print("", file=out)
        return False
    return answer.strip().lower() in ("y", "yes")


def _cut(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _table(out: TextIO, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    for line in [header, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip(), file=out)
