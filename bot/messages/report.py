"""The report in Slack: its Block Kit summary (tables side by side with the period before), and the answers
to `/learn report`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot.domain.safe_text import one_line, slack_escape, slack_plain
from bot.messages.kit import (
    MESSAGE_BLOCKS_MAX,
    NOTIFICATION_TEXT_MAX,
    SECTION_TEXT_MAX,
    Block,
    context,
    header,
    section,
)

ROWS_PER_TABLE = 20  # a table longer than this says "and N more" (the CSV has every row)
REASONS_SHOWN = 5
REASON_MAX = 200
NAME_MAX = 32  # a column of model or team names stays narrow enough for a phone


def _n(value: Any) -> str:
    return "–" if value is None else str(value)


def _table(title: str, head: Sequence[str], rows: Sequence[Sequence[Any]]) -> Block:
    """A monospaced table (what reads best for numbers side by side), cut to Slack's section text limit."""
    shown, more = list(rows[:ROWS_PER_TABLE]), len(rows) - ROWS_PER_TABLE
    cells = [[one_line(str(c), NAME_MAX) if i == 0 else _n(c) for i, c in enumerate(r)] for r in [head, *shown]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(head))]
    lines = ["  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r)) for r in cells]
    body = slack_escape("\n".join(lines))
    tail = f"\n_and {more} more in the CSV_" if more > 0 else ""
    room = SECTION_TEXT_MAX - len(title) - len(tail) - 12
    if len(body) > room:
        body = body[:room].rsplit("\n", 1)[0]
        tail = "\n_cut here: the CSV has every row_"
    return section(f"*{slack_escape(title)}*\n```\n{body}\n```{tail}")


def _side(now: Mapping[str, Any], before: Mapping[str, Any], keys: Sequence[tuple[str, str]]) -> list[list[Any]]:
    return [[label, now.get(key), before.get(key)] for key, label in keys]


def _by(now: Mapping[str, int], before: Mapping[str, int], names: Mapping[str, str]) -> list[list[Any]]:
    keys = list(dict.fromkeys([*now, *before]))
    return [[names.get(k, k), now.get(k, 0), before.get(k, 0)] for k in keys]


def report_summary(report: Mapping[str, Any], *, title: str, names: Mapping[str, str]) -> tuple[str, list[Block]]:
    """(notification text, blocks) of a report (ReportService.build's JSON), with the period before beside it."""
    prev = report["previous"]
    cols = ("", "this period", "before")
    rec, rec_b = report["received"], prev["received"]
    dec, dec_b = report["decisions"], prev["decisions"]
    lau, lau_b = report["launches"], prev["launches"]
    mil, mil_b = report["milestones"], prev["milestones"]
    rev, rev_b = report["reviews"], prev["reviews"]
    blocks: list[Block] = [
        header(title),
        context(f"{report['from']} to {report['to']} (days in the team's time zone); the column _before_ is "
                f"{prev['from']} to {prev['to']}"),
        _table("Requests received", cols, [["Total", rec["total"], rec_b["total"]],
                                           *_by(rec["by_model"], rec_b["by_model"], names)]),
        _table("By audience", cols, _by(rec["by_audience"], rec_b["by_audience"], {})),
        _table("Decisions", cols, [
            *_side(dec, dec_b, [("accepted", "Accepted"), ("waitlisted", "Waitlisted"), ("declined", "Declined"),
                                ("asked", "Asked for more")]),
            *_side(dec, dec_b, [("median_days_to_decision", "Median days to decide"),
                                ("p90_days_to_decision", "90th percentile, days"),
                                ("over_decide_within", "Waited past decide_within")])]),
        _table("Launches and milestones", cols, [
            *_side(lau, lau_b, [("total", "Launches"), ("on_time", "Launched on time"),
                                ("median_days_accept_to_launch", "Median days, accepted to launch")]),
            *_side(mil, mil_b, [("due", "Steps due"), ("done_on_time", "Steps done by their date")])]),
        _steps(mil["by_model"], mil_b["by_model"], names),
        _capacity(report["capacity"]),
        _table("Evergreen reviews, outcomes, satisfaction", cols, [
            *_side(rev, rev_b, [("due", "Reviews due"), ("done", "Reviews done"), ("retired", "Content retired")]),
            *_by(report["outcomes"], prev["outcomes"], {"happened": "Outcome: it happened", "partly": "Outcome: partly",
                                                        "not_yet": "Outcome: not yet",
                                                        "not_relevant": "Outcome: not relevant"}),
            ["Satisfaction responses", report["satisfaction"]["responses"], prev["satisfaction"]["responses"]],
            ["Satisfaction (1-5), mean", report["satisfaction"]["mean"], prev["satisfaction"]["mean"]],
            ["Clusters of similar requests", len(report["similar"]), len(prev["similar"])]]),
    ]
    reasons = dec.get("reasons") or []
    if reasons:
        lines = [f"• #{r['id']} {r['decision']}: {slack_plain(one_line(str(r['reason']), REASON_MAX), REASON_MAX)}"
                 for r in reasons[:REASONS_SHOWN]]
        more = f"\n_and {len(reasons) - REASONS_SHOWN} more in `learnbot report --json`_" \
            if len(reasons) > REASONS_SHOWN else ""
        blocks.append(section("*Reasons given*\n" + "\n".join(lines) + more))
    blocks.append(context("The chart and the CSV follow. `learnbot report --json` has every number."))
    text = (f"{title}: {rec['total']} requests received, {dec['accepted']} accepted, {dec['declined']} declined, "
            f"{lau['total']} launched")
    return text[:NOTIFICATION_TEXT_MAX], blocks[:MESSAGE_BLOCKS_MAX]


def _steps(now: Mapping[str, Mapping[str, int]], before: Mapping[str, Mapping[str, int]],
           names: Mapping[str, str]) -> Block:
    """Steps done by their date of those due, per model (per step: the CSV and the JSON)."""
    def cell(counts: Mapping[str, int] | None) -> str:
        return f"{counts['done_on_time']}/{counts['due']}" if counts else "0/0"

    rows = [[names.get(m, m), cell(now.get(m)), cell(before.get(m))] for m in dict.fromkeys([*now, *before])]
    return _table("Steps done by their date, of those due, per model", ("", "this period", "before"),
                  rows or [["No step was due", "–", "–"]])


def _capacity(teams: Sequence[Mapping[str, Any]]) -> Block:
    rows = [[t["team"], f"{t['in_progress']}/{_n(t['capacity'])}", t["waitlist"], t["oldest_wait_days"]]
            for t in teams]
    return _table("Capacity at the end of the period", ("", "in progress", "waitlist", "oldest wait, days"), rows)


def report_coming(period_label: str) -> tuple[str, list[Block]]:
    """The answer to an L&D admin's `/learn report`: the report follows in a DM."""
    text = (f"Building the L&D report for {slack_escape(period_label)}: it will be in your DM with learnbot "
            "in a moment, with its chart and CSV.")
    return text, [section(text)]


def report_refused() -> tuple[str, list[Block]]:
    """The answer to anyone else's `/learn report`."""
    text = "The report is for the L&D team (LEARNBOT_ADMINS). Nothing was sent."
    return text, [section(text)]
