"""App Home and `/learn mine` over HTTP: my open requests with their next step; the queue for L&D admins."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import select

from bot.store.models import Request, RequestStatus
from tests.e2e.harness import wait_until
from tests.samples import slack_state

pytestmark = pytest.mark.e2e




def submit_and_file(app, gitlab, services, raw, key, user="U0REQ"):
    before = len(gitlab.issues())
    app.submit(key, slack_state(raw), user=user)
    wait_until(lambda: len(gitlab.issues()) > before)
    wait_until(lambda: all(r.status is RequestStatus.OPEN for r in _requests(services)))


def _requests(services):
    with services.db.session() as s:
        return list(s.scalars(select(Request)))


def open_home(app, user):
    event = {"type": "app_home_opened", "user": user, "channel": "D0HOME", "tab": "home",
             "event_ts": f"{time.time():.6f}"}
    body = {"token": "legacy", "team_id": "T0LEARN01", "api_app_id": "A0LEARN", "event": event,
            "type": "event_callback", "event_id": f"Ev{time.monotonic_ns()}", "event_time": int(time.time())}
    resp = app.post_signed(json.dumps(body), headers={"Content-Type": "application/json"})
    assert resp.status_code == 200


def published(slack, user):
    """The Home view Slack accepted for `user` (Slack refuses with HTTP 200 too: ok is what counts)."""
    calls = [c for c in slack.calls_to("views.publish") if c.body.get("user_id") == user and c.done
             and isinstance(c.response, dict) and c.response.get("ok")]
    return calls[-1].body["view"] if calls else None


def texts(view_or_blocks):
    blocks = view_or_blocks["blocks"] if isinstance(view_or_blocks, dict) else view_or_blocks
    out = []
    for b in blocks:
        if "text" in b:
            out.append(b["text"]["text"])
        out.extend(e.get("text", "") for e in b.get("elements", []) if isinstance(e.get("text"), str))
    return "\n".join(out)


def test_home_shows_my_requests_with_next_step_and_start_buttons(app, slack, gitlab, services, dates):
    submit_and_file(app, gitlab, services, dates.raw("new-pathway"), "new-pathway")
    submit_and_file(app, gitlab, services, dates.raw("new-content"), "new-content", user="U0STRANGER")
    open_home(app, "U0REQ")
    view = wait_until(lambda: published(slack, "U0REQ"))
    assert view["type"] == "home"
    starts = [e for b in view["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [e["value"] for e in starts] == services.catalog.catalog.keys
    # Each start button works: a click opens that model's form.
    app.block_action(starts[2]["action_id"], value=starts[2]["value"])
    form = slack.wait_for("views.open")[0].body["view"]
    assert f'"{starts[2]["value"]}"' in form["private_metadata"]
    body = texts(view)
    assert "Your open requests (1)" in body
    assert "New pathway: Community Learning Pathway" in body and gitlab.issues()[0]["web_url"] in body
    assert f"Next: Start collaboration on pathway needs with the L&amp;D team — Wed {dates.iso('2027-02-03')}" in body
    assert "Merge request etiquette" not in body  # someone else's request
    assert "Triage queue" not in body  # not an admin


def test_admin_home_also_shows_triage_queue_by_score_and_overdue(app, slack, gitlab, services, dates):
    low = dates.raw("new-content", topic="Low impact", business_impact="low", impacted_people="5")
    submit_and_file(app, gitlab, services, low, "new-content", user="U0STRANGER")
    submit_and_file(app, gitlab, services, dates.raw("new-content"), "new-content")
    open_home(app, "U0ADMIN")
    body = texts(wait_until(lambda: published(slack, "U0ADMIN")))
    assert "Triage queue (2)" in body
    assert body.index("Merge request etiquette") < body.index("Low impact")  # higher score first
    assert "Overdue steps (0)" in body and "Nothing overdue" in body


def test_learn_mine_answers_only_me_with_the_same_list(app, slack, gitlab, services, dates):
    assert "You have no open requests" in texts(app.command("mine").json()["blocks"])
    submit_and_file(app, gitlab, services, dates.raw("content-review"), "content-review")
    answer = app.command("mine").json()
    assert answer.get("response_type", "ephemeral") == "ephemeral"
    body = texts(answer["blocks"])
    assert "Your open requests (1)" in body and "Content review: Bias for async" in body
    assert f"Next: Review needed by — Mon {dates.iso('2027-02-15')}" in body
    assert "Your open requests (0)" in texts(app.command("mine", user="U0HOST").json()["blocks"])


def test_home_escapes_user_text(app, slack, gitlab, services, dates):
    raw = dates.raw("content-review", title="<!channel> <@U0ADMIN> ping")
    submit_and_file(app, gitlab, services, raw, "content-review")
    open_home(app, "U0REQ")
    body = texts(wait_until(lambda: published(slack, "U0REQ")))
    assert "&lt;!channel&gt;" in body and "<!channel>" not in body and "<@U0ADMIN>" not in body
