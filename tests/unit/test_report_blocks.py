"""The report's Slack summary fits Block Kit's limits at any size and escapes what people typed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.domain import report as rules
from bot.messages.kit import MESSAGE_BLOCKS_MAX, NOTIFICATION_TEXT_MAX, SECTION_TEXT_MAX
from bot.messages.report import report_coming, report_refused, report_summary
from tests.standins._block_kit import block_errors

AT = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)
HOSTILE = "<!channel> <@U123> <https://evil|x> &"


def big_report(n: int) -> dict:
    got = [rules.Received(i, f"model-{i % 40}", (f"{HOSTILE} audience {i % 60}",), AT) for i in range(n)]
    made = [rules.DecisionRow(i, f"model-{i % 40}", "declined", AT + timedelta(days=1), HOSTILE * 20, AT, True, 5)
            for i in range(n)]
    teams = [rules.TeamRow(f"{HOSTILE} team {i}" * 3, 4, i, (AT,)) for i in range(40)]
    one = {"from": "2026-11-01", "to": "2026-11-30", "received": rules.received(got),
           "decisions": rules.decisions(made),
           "launches": rules.launches([], ZoneInfo("UTC")), "milestones": rules.milestones([]),
           "capacity": rules.capacity(teams, end=AT), "reviews": rules.reviews(rules.Reviews()),
           "outcomes": {"happened": 0, "partly": 0, "not_yet": 0, "not_relevant": 0},
           "satisfaction": {"responses": 0, "mean": None}, "similar": [[1, 2]] * 30}
    return {**one, "previous": {**one, "from": "2026-10-01", "to": "2026-10-31"}}


def test_a_huge_report_is_valid_block_kit_and_says_what_it_cut():
    text, blocks = report_summary(big_report(2000), title="L&D report — November 2026",
                                  names={f"model-{i}": f"Model {i} " * 10 for i in range(40)})
    assert len(text) <= NOTIFICATION_TEXT_MAX and len(blocks) <= MESSAGE_BLOCKS_MAX
    assert block_errors(blocks, limit=MESSAGE_BLOCKS_MAX, pointer="/blocks") == []
    assert all(len(b["text"]["text"]) <= SECTION_TEXT_MAX for b in blocks if b["type"] == "section")
    shown = json.dumps(blocks)
    assert "more in the CSV" in shown and "more in `learnbot report --json`" in shown
    assert "<!channel>" not in shown and "<@U123>" not in shown and "<https://evil" not in shown


def test_an_empty_report_reads_as_zeros_and_dashes():
    empty = big_report(0)
    text, blocks = report_summary(empty, title="L&D report — November 2026", names={})
    assert text == "L&D report — November 2026: 0 requests received, 0 accepted, 0 declined, 0 launched"
    assert block_errors(blocks, limit=MESSAGE_BLOCKS_MAX, pointer="/blocks") == []
    assert "Reasons given" not in json.dumps(blocks)


def test_the_answers_to_learn_report():
    for text, blocks in (report_coming("November 2026"), report_refused()):
        assert text and block_errors(blocks, limit=MESSAGE_BLOCKS_MAX, pointer="/blocks") == []
    assert "DM" in report_coming("November 2026")[0] and "L&D team" in report_refused()[0]
