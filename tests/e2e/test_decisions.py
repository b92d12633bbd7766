"""Decisions over HTTP (§12): the deciders' message, each decision and who may make it, the requester's DM and
Reply, GitLab's scoped labels and notes, capacity and the waitlist, the overdue nudge, the webhook round trip."""

from __future__ import annotations

import itertools
import json
import uuid
from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from bot.catalog.schema import SHIPPED_CATALOG
from bot.container import Services
from bot.store.models import DecisionEvent, Reminder, Request
from tests.e2e.harness import TEAM, wait_until
from tests.gitlab_rules import group_mentions, visible
from tests.samples import RAW, slack_state
from tests.standins import gitlab_hooks as hooks

pytestmark = pytest.mark.e2e
TRIAGE = "C0TRIAGE"
PARTNERS = "C0PARTNERS"
_views = itertools.count(1)


@pytest.fixture
def env(env, tmp_path: Path) -> dict[str, str]:
    """A catalogue whose Partner Enablement team has a user group and a channel, and L&D a capacity of 2."""
    data = yaml.safe_load(SHIPPED_CATALOG.read_text())
    data["capacity"] = 2
    for option in data["contributor_audiences"]:
        if option["value"] == "partners":
            option.update(usergroup="S0PARTNERS", channel=PARTNERS)
    for model in data["models"]:  # the anchors were expanded by the YAML loader: patch every copy
        for field in model["fields"]:
            for option in field.get("options") or []:
                if field["id"] == "contributor_audience" and option["value"] == "partners":
                    option.update(usergroup="S0PARTNERS", channel=PARTNERS)
    path = tmp_path / "catalog.yml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return {**env, "LEARNBOT_TRIAGE_CHANNEL": TRIAGE, "LEARNBOT_CATALOG": str(path),
            "LEARNBOT_ADMINS": "U0ADMIN,U0ADMIN2"}


@pytest.fixture(autouse=True)
def people(slack, gitlab):
    slack.add_user("U0ADMIN", tz="Europe/London", name="Lena L&D")
    slack.add_user("U0ADMIN2", tz="Europe/London", name="Otto L&D")
    slack.add_user("U0PARTNER", tz="Europe/Paris", name="Pia Partners")
    slack.add_usergroup("S0PARTNERS", ["U0PARTNER"])
    slack.invite_bot(TRIAGE)  # the deciders' channels, with learnbot invited (/invite @learnbot)
    slack.invite_bot(PARTNERS)
    gitlab.add_user("lena", user_id=901)




def new_content(**changes):
    # An input date relative to the real clock (the modal refuses past dates); no expected value uses it.
    needed = (Services.clock() + timedelta(days=120)).date().isoformat()
    return {**RAW["new-content"], "needed_by": needed, **changes}


def deciders_messages(slack, channel=TRIAGE):
    return [m for m in slack.messages(channel) if not m.get("thread_ts") or m["thread_ts"] == m["ts"]]


def thread(slack, message, channel=TRIAGE):
    return [m for m in slack.messages(channel) if m.get("thread_ts") == message["ts"] and m["ts"] != message["ts"]]


def button(message, action_id):
    for block in message.get("blocks") or []:
        for element in block.get("elements", []):
            if isinstance(element, dict) and element.get("action_id") == action_id:
                return element
    return None


def file_request(app, slack, gitlab, key="new-content", raw=None, channel=TRIAGE, count=1):
    app.submit(key, slack_state(raw or new_content()))
    return wait_until(lambda: len([m for m in deciders_messages(slack, channel) if "/issues/" in json.dumps(m)])
                      >= count and [m for m in deciders_messages(slack, channel) if "/issues/" in json.dumps(m)][-1])


def request_row(services, request_id=None) -> Request:
    with services.db.session() as s:
        if request_id is None:
            return s.scalars(select(Request).order_by(Request.id.desc())).first()
        return s.get(Request, request_id)


def press(app, slack, message, action_id, user="U0ADMIN"):
    """Press a decider's button; return the button pressed."""
    element = button(message, action_id)
    assert element is not None, f"no {action_id} on the message"
    app.block_action(action_id, value=element["value"], user=user, message=message)
    return element


def opened_modal(slack, count):
    return wait_until(lambda: len(slack.views_opened()) >= count and slack.views_opened()[count - 1].body["view"])


def submit_view(app, view, values, user="U0ADMIN"):
    view_id = f"VDEC{next(_views)}{uuid.uuid4().hex[:6].upper()}"
    state = {}
    for block_id, element in values.items():
        state[block_id] = {"value": element}
    return app.interaction({
        "type": "view_submission", "team": TEAM, "api_app_id": "A0LEARN", "token": "legacy",
        "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": TEAM["id"]},
        "trigger_id": "1.sub",
        "view": {"id": view_id, "team_id": TEAM["id"], "type": "modal", "callback_id": view["callback_id"],
                 "private_metadata": view["private_metadata"], "hash": "1.abc", "title": view["title"],
                 "blocks": view["blocks"], "state": {"values": state}, "app_id": "A0LEARN", "bot_id": "B0LEARN",
                 "root_view_id": view_id},
        "response_urls": [], "is_enterprise_install": False, "enterprise": None,
    })


def text_input(value):
    return {"type": "plain_text_input", "value": value}


def decision_dms(slack, user="U0REQ"):
    return [m for m in slack.messages(user) if m["text"].startswith("Your request “")
            and "filed as" not in m["text"]]


def decide(app, slack, message, action_id, values, user="U0ADMIN"):
    count = len(slack.views_opened()) + 1
    press(app, slack, message, action_id, user=user)
    view = opened_modal(slack, count)
    return view, submit_view(app, view, values, user=user)


def events(services):
    with services.db.session() as s:
        return list(s.scalars(select(DecisionEvent).order_by(DecisionEvent.id)))


def deferred(services, kind):
    from bot.store.models import Job

    with services.db.session() as s:
        return s.scalars(select(Job).where(Job.kind == kind, Job.last_error.is_not(None),
                                           Job.claimed_until.is_(None))).first()


def all_processed(services):
    from bot.store.models import WebhookDelivery

    with services.db.session() as s:
        return not s.scalars(select(WebhookDelivery).where(WebhookDelivery.processed_at.is_(None))).first()


def reminder_count(services):
    with services.db.session() as s:
        return s.scalar(select(func.count(Reminder.id)))


# --- L&D decides ---------------------------------------------------------------------------------


def test_admin_accepts_in_slack_and_gitlab_requester_and_message_follow(app, slack, gitlab, services):
    message = file_request(app, slack, gitlab)
    issue = gitlab.issues()[0]
    text = json.dumps(message["blocks"])
    for part in ("Capacity now", "0 of 2 in progress", "Business impact", "OKR link", "People impacted", "Score",
                 issue["web_url"], "U0REQ"):
        assert part in text, part
    assert [button(message, a) is not None for a in
            ("learn.decide.accept", "learn.decide.waitlist", "learn.decide.decline", "learn.decide.ask")] == [True] * 4
    assert reminder_count(services) == 0  # held until the request is accepted
    wait_until(lambda: "ld-status::new" in gitlab.issue(issue["iid"])["labels"])

    _, resp = decide(app, slack, message, "learn.decide.accept", {"gitlab_username": text_input("lena")})
    assert resp.status_code == 200 and resp.json()["response_action"] == "update"
    assert "Accepted" in json.dumps(resp.json()["view"])
    [dm] = wait_until(lambda: decision_dms(slack))
    assert "accepted" in dm["text"] and "<@U0ADMIN>" in json.dumps(dm["blocks"])

    updated = wait_until(lambda: (m := deciders_messages(slack)[0]) and "Accepted" in json.dumps(m["blocks"]) and m)
    assert updated["ts"] == message["ts"] and "edited" in updated  # in place, not a new message
    assert button(updated, "learn.decide.accept") is None
    assert any("accepted this request" in m["text"] for m in thread(slack, message))

    gl = wait_until(lambda: (i := gitlab.issue(issue["iid"])) and "ld-status::accepted" in i["labels"] and i)
    assert "ld-status::new" not in gl["labels"]
    assert [a["username"] for a in gl["assignees"]] == ["lena"]
    assert any("Accepted" in n["body"] and not n["system"] for n in gitlab.notes(issue["iid"]))
    assert reminder_count(services) > 0  # accepting work starts the plan's reminders

    # Asked once, remembered: the next Accept modal is pre-filled.
    second = file_request(app, slack, gitlab, count=2)
    count = len(slack.views_opened()) + 1
    press(app, slack, second, "learn.decide.accept")
    modal = opened_modal(slack, count)
    assert '"initial_value": "lena"' in json.dumps(modal)


def test_decline_needs_a_reason_quoted_safely_and_scoped_labels_replace_each_other(app, slack, gitlab, services):
    message = file_request(app, slack, gitlab)
    issue = gitlab.issues()[0]
    _, resp = decide(app, slack, message, "learn.decide.waitlist", {"text": text_input("")})
    assert resp.json()["response_action"] == "update"
    wait_until(lambda: "ld-status::waitlisted" in gitlab.issue(issue["iid"])["labels"])
    message = wait_until(lambda: (m := deciders_messages(slack)[0]) and "Waitlisted" in json.dumps(m["blocks"]) and m)

    count = len(slack.views_opened()) + 1
    press(app, slack, message, "learn.decide.decline")
    view = opened_modal(slack, count)
    resp = submit_view(app, view, {"text": text_input("   ")})
    assert resp.json() == {"response_action": "errors", "errors": {"text": resp.json()["errors"]["text"]}}
    assert "reason" in resp.json()["errors"]["text"]
    assert request_row(services).decision_state == "waitlisted"  # nothing changed

    too_long = submit_view(app, view, {"text": text_input("x" * 2001)})  # forged past the modal's max_length
    assert too_long.json()["response_action"] == "errors"
    reason = "<!channel> not this quarter\n/close\n@all sorry"
    resp = submit_view(app, view, {"text": text_input(reason)})
    assert resp.json()["response_action"] == "update"
    dm = wait_until(lambda: [d for d in decision_dms(slack) if "declined" in d["text"]])[0]
    shown = json.dumps(dm["blocks"])
    assert "&lt;!channel&gt;" in shown and "<!channel>" not in shown
    labels = wait_until(lambda: (i := gitlab.issue(issue["iid"])) and "ld-status::declined" in i["labels"]
                        and i["labels"])
    assert "ld-status::waitlisted" not in labels  # one label per scope
    assert gitlab.issue(issue["iid"])["state"] == "opened"  # the reason's "/close" ran nothing
    assert not [q for q in gitlab.quick_actions_applied(issue["iid"]) if q["applied"]]
    note = next(n for n in gitlab.notes(issue["iid"]) if "not this quarter" in n["body"])
    assert "\\/close" in note["body"] and not group_mentions(note["body"]) and "@all" in visible(note["body"])


def test_only_deciders_decide_and_a_forged_submission_changes_nothing(app, slack, gitlab, services):
    message = file_request(app, slack, gitlab)
    press(app, slack, message, "learn.decide.accept", user="U0STRANGER")
    refusal = wait_until(lambda: [c for c in slack.calls_to("chat.postEphemeral")
                                  if c.body.get("user") == "U0STRANGER"])
    assert "Only L&D admins can decide" in refusal[0].body["text"]
    assert slack.views_opened() == []

    request = request_row(services)
    forged = {"callback_id": "learn.decide", "title": {"type": "plain_text", "text": "Accept"}, "blocks": [],
              "private_metadata": json.dumps({"request": request.id, "version": 0, "verb": "accept"})}
    resp = submit_view(app, forged, {}, user="U0STRANGER")
    assert "Only L&amp;D admins" in json.dumps(resp.json()) or "Only L&D admins" in json.dumps(resp.json())
    assert request_row(services).decision_state == "new" and events(services) == []


def test_two_deciders_at_once_make_one_decision_and_a_redelivery_changes_nothing(app, slack, gitlab, services):
    message = file_request(app, slack, gitlab)
    count = len(slack.views_opened())
    press(app, slack, message, "learn.decide.accept", user="U0ADMIN")
    press(app, slack, message, "learn.decide.decline", user="U0ADMIN2")
    wait_until(lambda: len(slack.views_opened()) == count + 2)
    views = {c.body["view"]["private_metadata"]: c.body["view"] for c in slack.views_opened()[count:]}
    accept = next(v for k, v in views.items() if '"accept"' in k)
    decline = next(v for k, v in views.items() if '"decline"' in k)

    first = submit_view(app, accept, {}, user="U0ADMIN")
    second = submit_view(app, decline, {"text": text_input("no")}, user="U0ADMIN2")
    again = submit_view(app, accept, {}, user="U0ADMIN")  # Slack delivers the first one again
    assert "Accepted" in json.dumps(first.json())
    assert "already decided by <@U0ADMIN>" in json.dumps(second.json())
    assert "already decided" in json.dumps(again.json())
    assert [(e.state, e.actor) for e in events(services)] == [("accepted", "U0ADMIN")]
    wait_until(lambda: decision_dms(slack))
    services.dispatcher.run_once(now=services.clock() + timedelta(minutes=5))
    assert len(decision_dms(slack)) == 1


def test_a_decision_from_a_modal_opened_before_another_decision_is_refused_and_says_whose(app, slack, gitlab,
                                                                                          services):
    """Two deciders open their modals on the same version; one waitlists, which still leaves Accept on the
    message. The other's Accept, from the modal opened before, is refused by the version it saw: the
    conditional UPDATE is what says no (on SQLite too, where decisions take turns)."""
    message = file_request(app, slack, gitlab)
    count = len(slack.views_opened())
    press(app, slack, message, "learn.decide.waitlist", user="U0ADMIN")
    wait_until(lambda: len(slack.views_opened()) == count + 1)
    press(app, slack, message, "learn.decide.accept", user="U0ADMIN2")
    wait_until(lambda: len(slack.views_opened()) == count + 2)
    waitlist, accept = (c.body["view"] for c in slack.views_opened()[count:])
    seen = json.loads(waitlist["private_metadata"])["version"]
    assert json.loads(accept["private_metadata"])["version"] == seen  # both opened on the same version

    first = submit_view(app, waitlist, {}, user="U0ADMIN")
    assert "Waitlisted" in json.dumps(first.json())
    second = submit_view(app, accept, {}, user="U0ADMIN2")
    assert "already decided by <@U0ADMIN>" in json.dumps(second.json())
    assert "*Waitlisted*" in json.dumps(second.json())
    assert [(e.version, e.state, e.actor) for e in events(services)] == [(seen + 1, "waitlisted", "U0ADMIN")]
    row = request_row(services)
    assert (row.decision_state, row.decision_version, row.decided_by) == ("waitlisted", seen + 1, "U0ADMIN")
    wait_until(lambda: decision_dms(slack))
    services.dispatcher.run_once(now=services.clock() + timedelta(minutes=5))
    assert [m["text"] for m in decision_dms(slack)] == [decision_dms(slack)[0]["text"]]
    assert "waitlisted" in decision_dms(slack)[0]["text"]


def test_ask_then_the_requester_replies_into_the_thread_and_the_issue(app, slack, gitlab, services):
    message = file_request(app, slack, gitlab)
    issue = gitlab.issues()[0]
    decide(app, slack, message, "learn.decide.ask", {"text": text_input("Which teams beyond Engineering?")})
    dm = wait_until(lambda: [d for d in decision_dms(slack) if "question" in d["text"]])[0]
    reply = button(dm, "learn.decide.reply")
    assert reply is not None and "Which teams" in json.dumps(dm["blocks"])

    count = len(slack.views_opened()) + 1
    app.block_action("learn.decide.reply", value=reply["value"], user="U0STRANGER", message=dm)
    wait_until(lambda: [c for c in slack.calls if c.api_method in ("chat.postEphemeral", "chat.postMessage")
                        and "Only the requester" in str(c.body.get("text"))])
    app.block_action("learn.decide.reply", value=reply["value"], user="U0REQ", message=dm)
    view = opened_modal(slack, count)
    assert view["callback_id"] == "learn.decide.reply"
    assert submit_view(app, view, {"text": text_input("")}, user="U0REQ").json()["response_action"] == "errors"
    resp = submit_view(app, view, {"text": text_input("Support and Sales too")}, user="U0REQ")
    assert resp.json()["response_action"] == "update"

    wait_until(lambda: any("Support and Sales too" in m["text"] for m in thread(slack, message)))
    wait_until(lambda: any("Support and Sales too" in n["body"] for n in gitlab.notes(issue["iid"])))
    assert request_row(services).decision_state == "new"
    # The deciders can decide again, from the message as it is now (version 2: asked, answered).
    wait_until(lambda: (b := button(deciders_messages(slack)[0], "learn.decide.accept")) and b["value"].endswith(":2"))


def test_a_decider_does_not_decide_their_own_request_when_someone_else_can(app, slack, gitlab, services):
    app.submit("new-content", slack_state(new_content()), user="U0ADMIN")  # an L&D admin asks L&D for content
    message = wait_until(lambda: (m := deciders_messages(slack)) and "/issues/" in json.dumps(m[0]) and m[0])
    press(app, slack, message, "learn.decide.accept", user="U0ADMIN")
    refusal = wait_until(lambda: [c for c in slack.calls_to("chat.postEphemeral") if c.body.get("user") == "U0ADMIN"])
    assert "your own request" in refusal[0].body["text"] and "another L&D admin decides it" in refusal[0].body["text"]
    assert slack.views_opened() == []

    forged = {"callback_id": "learn.decide", "title": {"type": "plain_text", "text": "Accept"}, "blocks": [],
              "private_metadata": json.dumps({"request": request_row(services).id, "version": 0, "verb": "accept"})}
    assert "your own request" in json.dumps(submit_view(app, forged, {}, user="U0ADMIN").json())
    assert request_row(services).decision_state == "new" and events(services) == []

    decide(app, slack, message, "learn.decide.accept", {}, user="U0ADMIN2")  # the other admin decides
    assert [(e.state, e.actor) for e in events(services)] == [("accepted", "U0ADMIN2")]


def test_a_team_member_contributing_for_their_own_team_is_decided_by_someone_else(app, slack, gitlab, services):
    app.submit("upload", slack_state(RAW["upload"]), user="U0PARTNER")  # "Who is contributing?" — Partners
    message = wait_until(lambda: (m := deciders_messages(slack, PARTNERS)) and "/issues/" in json.dumps(m[0]) and m[0])
    assert "answered “Partners” to “Who is contributing?”" in json.dumps(message["blocks"], ensure_ascii=False)
    press(app, slack, message, "learn.decide.approve", user="U0PARTNER")
    refusal = wait_until(lambda: [c for c in slack.calls_to("chat.postEphemeral")
                                  if c.body.get("user") == "U0PARTNER"])
    assert "your own request" in refusal[0].body["text"] and "Partner Enablement" in refusal[0].body["text"]
    assert slack.views_opened() == [] and request_row(services).decision_state == "new"


def _note_hook(app, issue, body, *, user, key):
    payload = hooks.note_event(issue, body, user=user)
    head = hooks.headers(hooks.event_header(payload), token="hook-secret", idempotency_key=key)
    assert app.session.post(f"{app.url}/gitlab/webhook", data=json.dumps(payload), headers=head,
                            timeout=10).status_code == 200


def comments_told(slack):
    return [m for m in slack.messages("U0REQ") if "Comment from" in m["text"]]


def test_a_marker_typed_into_a_reply_cannot_stop_the_next_decisions_note(app, slack, gitlab, services):
    message = file_request(app, slack, gitlab)
    issue = gitlab.issues()[0]
    decide(app, slack, message, "learn.decide.ask", {"text": text_input("Which teams?")})
    dm = wait_until(lambda: [d for d in decision_dms(slack) if "question" in d["text"]])[0]
    reply = button(dm, "learn.decide.reply")
    count = len(slack.views_opened()) + 1
    app.block_action("learn.decide.reply", value=reply["value"], user="U0REQ", message=dm)
    view = opened_modal(slack, count)
    wait_until(lambda: all(e.gitlab_note_at for e in events(services) if e.kind != "gitlab"))
    # The requester guesses the next decision's id and types markers for it in every shape they know.
    following = max(e.id for e in events(services)) + 2  # the answer's event comes first
    forged = (f"Support too learnbot-decision-event:{following} learnbot-decision-event:{following - 1} "
              f"learnbot-note:1 <!-- learnbot-decision-event:{following} -->")
    submit_view(app, view, {"text": text_input(forged)}, user="U0REQ")
    wait_until(lambda: any("Support too" in n["body"] for n in gitlab.notes(issue["iid"])))
    wait_until(lambda: all(e.gitlab_note_at for e in events(services) if e.kind != "gitlab"))

    # GitLab fails the decline's note once: the retry looks for its marker before writing it.
    gitlab.fail_next(lambda c: c.method == "POST" and c.path.endswith("/notes"), status=500)
    message = wait_until(lambda: (m := deciders_messages(slack)[0]) and button(m, "learn.decide.decline")
                         and button(m, "learn.decide.decline")["value"].endswith(":2") and m)
    decide(app, slack, message, "learn.decide.decline", {"text": text_input("Out of scope")})
    wait_until(lambda: deferred(services, "decision_gitlab"))
    assert max(e.id for e in events(services)) == following
    services.dispatcher.run_once(now=services.clock() + timedelta(minutes=2))
    declined = [n for n in gitlab.notes(issue["iid"]) if "Out of scope" in n["body"]]
    assert len(declined) == 1, [n["body"] for n in gitlab.notes(issue["iid"])]

    # Every note learnbot wrote comes back as a Note Hook: none is relayed to the requester as a comment,
    # while a person's comment holding marker-like text still is.
    before = len(comments_told(slack))
    for i, note in enumerate(n for n in gitlab.notes(issue["iid"]) if not n["system"]):
        _note_hook(app, issue, note["body"], user="learnbot", key=f"own-{i}")
    _note_hook(app, issue, "FYI learnbot-decision-event:99 is what I saw", user="reviewer", key="person")
    told = wait_until(lambda: [m for m in comments_told(slack) if "FYI" in m["text"]])
    services.dispatcher.run_once(now=services.clock() + timedelta(minutes=5))
    assert len(comments_told(slack)) == before + 1 and len(told) == 1
    assert not [m for m in comments_told(slack) if "Out of scope" in m["text"] or "Support too" in m["text"]]


# --- approving teams (LXP contributions) ---------------------------------------------------------


def test_partner_team_member_requests_changes_then_approves_in_their_channel(app, slack, gitlab, services):
    message = file_request(app, slack, gitlab, key="upload", raw=RAW["upload"], channel=PARTNERS)
    assert deciders_messages(slack, TRIAGE) == []
    for action in ("learn.decide.approve", "learn.decide.request_changes", "learn.decide.decline"):
        assert button(message, action) is not None
    assert button(message, "learn.decide.accept") is None
    issue = gitlab.issues()[0]

    _, resp = decide(app, slack, message, "learn.decide.request_changes", {"text": text_input("")}, user="U0PARTNER")
    assert resp.json()["response_action"] == "errors"
    count = len(slack.views_opened())
    view = slack.views_opened()[count - 1].body["view"]
    submit_view(app, view, {"text": text_input("Add a duration")}, user="U0PARTNER")
    dm = wait_until(lambda: [d for d in decision_dms(slack) if "changes" in d["text"]])[0]
    assert button(dm, "learn.decide.reply") is not None
    wait_until(lambda: "lxp::changes-requested" in gitlab.issue(issue["iid"])["labels"])

    message = wait_until(lambda: (m := deciders_messages(slack, PARTNERS)[0]) and "Changes requested"
                         in json.dumps(m["blocks"]) and m)
    decide(app, slack, message, "learn.decide.approve", {"text": text_input("")}, user="U0PARTNER")
    labels = wait_until(lambda: (i := gitlab.issue(issue["iid"])) and "lxp::approved" in i["labels"] and i["labels"])
    assert "lxp::changes-requested" not in labels
    assert request_row(services).decision_state == "approved"
    assert wait_until(lambda: [d for d in decision_dms(slack) if "approved" in d["text"]])

    # A partner cannot decide L&D's requests.
    ld = file_request(app, slack, gitlab)
    press(app, slack, ld, "learn.decide.accept", user="U0PARTNER")
    refusal = wait_until(lambda: [c for c in slack.calls_to("chat.postEphemeral") if c.body.get("user") == "U0PARTNER"])
    assert "Only L&D admins can decide" in refusal[0].body["text"]


# --- capacity and the waitlist -------------------------------------------------------------------


def test_capacity_asks_to_confirm_and_the_waitlist_keeps_its_order(app, slack, gitlab, services):
    messages = [file_request(app, slack, gitlab, raw=new_content(topic=f"Topic {i}"), count=i + 1) for i in range(4)]
    for m in messages[:2]:
        decide(app, slack, m, "learn.decide.accept", {})
    wait_until(lambda: len(decision_dms(slack)) == 2)
    services.dispatcher.run_once(now=services.clock())  # the other messages show the capacity now taken

    third = wait_until(lambda: (m := next(x for x in deciders_messages(slack) if x["ts"] == messages[2]["ts"]))
                       and "2 of 2 in progress" in json.dumps(m) and m)
    view, resp = decide(app, slack, third, "learn.decide.accept", {})
    assert ":warning:" in json.dumps(view) and "confirm" in json.dumps(view)
    assert resp.json()["response_action"] == "errors" and "capacity" in resp.json()["errors"]["text"]

    decide(app, slack, third, "learn.decide.waitlist", {})
    decide(app, slack, messages[3], "learn.decide.waitlist", {})
    dms = wait_until(lambda: len(decision_dms(slack)) == 4 and decision_dms(slack))
    assert "number 1 in the queue" in json.dumps(dms[2]["blocks"])
    assert "number 2 in the queue" in json.dumps(dms[3]["blocks"])

    # The first in the queue is accepted anyway: the second moves up and is told once.
    third = wait_until(lambda: (m := next(x for x in deciders_messages(slack) if x["ts"] == messages[2]["ts"]))
                       and "Waitlisted" in json.dumps(m) and m)
    decide(app, slack, third, "learn.decide.accept", {"confirm": {"type": "checkboxes",
                                                                   "selected_options": [{"value": "yes"}]}})
    moved = wait_until(lambda: [m for m in slack.messages("U0REQ") if "now number 1" in m["text"]])
    assert len(moved) == 1
    services.dispatcher.run_once(now=services.clock() + timedelta(minutes=5))
    assert len([m for m in slack.messages("U0REQ") if "now number" in m["text"]]) == 1
    assert [e.state for e in events(services)] == ["accepted", "accepted", "waitlisted", "waitlisted", "accepted"]


# --- no decision needed, overdue, GitLab round trip ----------------------------------------------


def test_live_learning_is_accepted_on_filing_and_only_announced(app, slack, gitlab, services):
    starts = int((Services.clock() + timedelta(days=60)).replace(hour=15, minute=0).timestamp())
    message = file_request(app, slack, gitlab, key="live-learning",
                           raw={**RAW["live-learning"], "starts_at": str(starts)})
    assert "Accepted on filing" in json.dumps(message)
    assert not any(button(message, a) for a in ("learn.decide.accept", "learn.decide.decline"))
    assert request_row(services).decision_state == "accepted" and reminder_count(services) > 0
    wait_until(lambda: "ld-status::accepted" in gitlab.issues()[0]["labels"])


def test_an_undecided_request_is_raised_once_after_decide_within(app, slack, gitlab, services):
    message = file_request(app, slack, gitlab)
    created = request_row(services).created_at
    services.dispatcher.run_once(now=created + timedelta(days=4, hours=23))
    assert not any("Still waiting" in m["text"] for m in thread(slack, message))
    report = services.dispatcher.run_once(now=created + timedelta(days=5, minutes=1))
    assert any("nudged" in line for line in report.lines())
    nudges = wait_until(lambda: [m for m in thread(slack, message) if "Still waiting" in m["text"]])
    assert "5 days" in nudges[0]["text"]
    services.dispatcher.run_once(now=created + timedelta(days=9))
    assert len([m for m in thread(slack, message) if "Still waiting" in m["text"]]) == 1


def test_a_status_label_set_in_gitlab_comes_back_to_slack_once(app, slack, gitlab, services):
    message = file_request(app, slack, gitlab)
    issue = gitlab.issue(gitlab.issues()[0]["iid"])
    changed = gitlab.update_issue(issue["iid"], add_labels="ld-status::declined")
    payload = hooks.issue_event(changed, action="update",
                                changes=hooks.labels_change(issue["labels"], changed["labels"]))
    head = hooks.headers(hooks.event_header(payload), token="hook-secret", idempotency_key="lbl-1")
    for _ in range(2):  # GitLab retries a delivery: still one change, one DM
        assert app.session.post(f"{app.url}/gitlab/webhook", data=json.dumps(payload), headers=head,
                                timeout=10).status_code == 200
    wait_until(lambda: request_row(services).decision_state == "declined")
    dm = wait_until(lambda: [d for d in decision_dms(slack) if "declined" in d["text"]])
    services.dispatcher.run_once(now=services.clock() + timedelta(minutes=5))
    assert len([d for d in decision_dms(slack) if "declined" in d["text"]]) == 1 and dm
    assert not [m for m in slack.messages("U0REQ") if "Labels" in m["text"]]  # not told twice in other words
    wait_until(lambda: "Declined" in json.dumps(deciders_messages(slack)[0]["blocks"]))
    assert any("Changed in GitLab" in m["text"] for m in thread(slack, message))


# --- the same state everywhere; GitLab failures --------------------------------------------------


def test_home_mine_and_digest_show_how_each_request_stands(app, slack, gitlab, services):
    from tests.e2e.test_home_and_mine import open_home, published, texts

    first = file_request(app, slack, gitlab, raw=new_content(topic="Kept waiting"))
    second = file_request(app, slack, gitlab, raw=new_content(topic="Put in line"), count=2)
    decide(app, slack, second, "learn.decide.waitlist", {})
    wait_until(lambda: decision_dms(slack))
    mine = texts(app.command("mine").json()["blocks"])
    assert "waitlisted" in mine and "waiting for a decision" in mine

    open_home(app, "U0ADMIN")
    home = texts(wait_until(lambda: published(slack, "U0ADMIN")))
    assert "L&amp;D capacity: 0 of 2 in progress" in home or "L&D capacity: 0 of 2 in progress" in home

    created = request_row(services).created_at
    digest = services.digest.build(since=created - timedelta(days=7), now=created + timedelta(days=3))
    from bot.messages.digest import digest_message

    _, blocks = digest_message(digest)
    assert "waiting for a decision, 3 days" in json.dumps(blocks)
    assert first["ts"] != second["ts"]


def test_gitlab_down_or_a_lost_answer_writes_each_note_and_label_once(app, slack, gitlab, services):
    message = file_request(app, slack, gitlab)
    issue = gitlab.issues()[0]
    # GitLab saves the note but the answer is lost: the retry finds it by its marker.
    gitlab.fail_next(lambda c: c.method == "POST" and c.path.endswith("/notes"), drop=True, after_effect=True)
    decide(app, slack, message, "learn.decide.decline", {"text": text_input("Out of scope")})
    wait_until(lambda: decision_dms(slack))
    ours = lambda: [n for n in gitlab.notes(issue["iid"]) if "Out of scope" in n["body"]]  # noqa: E731
    wait_until(ours)
    wait_until(lambda: deferred(services, "decision_gitlab"))  # the listener's try recorded the lost answer
    assert "ld-status::declined" not in gitlab.issue(issue["iid"])["labels"]  # not yet: the job is deferred
    services.dispatcher.run_once(now=services.clock() + timedelta(minutes=2))
    assert len(ours()) == 1 and "ld-status::declined" in gitlab.issue(issue["iid"])["labels"]
    services.dispatcher.run_once(now=services.clock() + timedelta(hours=2))
    assert len(ours()) == 1


def test_an_assignee_changed_in_gitlab_is_told_once_and_learnbots_own_is_not(app, slack, gitlab, services):
    message = file_request(app, slack, gitlab)
    issue = gitlab.issues()[0]
    decide(app, slack, message, "learn.decide.accept", {"gitlab_username": text_input("lena")})
    wait_until(lambda: gitlab.issue(issue["iid"])["assignees"])

    def deliver(previous, current, key):
        payload = hooks.issue_event(gitlab.issue(issue["iid"]), action="update",
                                    changes=hooks.assignees_change(previous, current))
        head = hooks.headers(hooks.event_header(payload), token="hook-secret", idempotency_key=key)
        assert app.session.post(f"{app.url}/gitlab/webhook", data=json.dumps(payload), headers=head,
                                timeout=10).status_code == 200

    deliver([], ["lena"], "assign-1")  # learnbot's own assignment coming back
    wait_until(lambda: all_processed(services))  # GitLab sends one hook after the other
    deliver(["lena"], ["otto"], "assign-2")
    dm = wait_until(lambda: [m for m in slack.messages("U0REQ") if "Assigned by @lnd-lead to @otto" in m["text"]])
    services.dispatcher.run_once(now=services.clock() + timedelta(minutes=5))
    assert len(dm) == 1 and not [m for m in slack.messages("U0REQ") if "@lena" in m["text"]]
    assert request_row(services).assignee_username == "otto"


def test_two_decisions_submitted_at_the_same_moment_make_one(app, slack, gitlab, services):
    import threading

    message = file_request(app, slack, gitlab)
    count = len(slack.views_opened())
    press(app, slack, message, "learn.decide.accept", user="U0ADMIN")
    wait_until(lambda: len(slack.views_opened()) == count + 1)
    press(app, slack, message, "learn.decide.decline", user="U0ADMIN2")
    wait_until(lambda: len(slack.views_opened()) == count + 2)
    accept, decline = (c.body["view"] for c in slack.views_opened()[count:])
    start = threading.Barrier(2)
    answers = {}

    def submit(name, view, values, user):
        start.wait()
        answers[name] = submit_view(app, view, values, user=user).json()

    threads = [threading.Thread(target=submit, args=("a", accept, {}, "U0ADMIN")),
               threading.Thread(target=submit, args=("d", decline, {"text": text_input("no room")}, "U0ADMIN2"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    [event] = events(services)
    loser = "d" if event.state == "accepted" else "a"
    assert f"already decided by <@{event.actor}>" in json.dumps(answers[loser])
    wait_until(lambda: decision_dms(slack))
    services.dispatcher.run_once(now=services.clock() + timedelta(minutes=5))
    assert len(decision_dms(slack)) == 1


def test_closing_the_issue_shows_in_the_thread_frees_capacity_and_ends_deciding(app, slack, gitlab, services):
    accepted = file_request(app, slack, gitlab)
    waiting = file_request(app, slack, gitlab, raw=new_content(topic="Second"), count=2)
    decide(app, slack, accepted, "learn.decide.accept", {})
    wait_until(lambda: decision_dms(slack))
    services.dispatcher.run_once(now=services.clock())
    wait_until(lambda: "1 of 2 in progress" in json.dumps(deciders_messages(slack)[1]))

    iid = gitlab.issues()[0]["iid"]
    payload = hooks.issue_event(gitlab.close_issue(iid), action="close")
    head = hooks.headers(hooks.event_header(payload), token="hook-secret", idempotency_key="close-dec")
    assert app.session.post(f"{app.url}/gitlab/webhook", data=json.dumps(payload), headers=head,
                            timeout=10).status_code == 200
    wait_until(lambda: any("Issue closed in GitLab" in m["text"] for m in thread(slack, accepted)))
    services.dispatcher.run_once(now=services.clock())
    wait_until(lambda: "0 of 2 in progress" in json.dumps(deciders_messages(slack)[1]))
    assert ":lock:" in json.dumps(deciders_messages(slack)[0]) and waiting["ts"] == deciders_messages(slack)[1]["ts"]


def test_a_triage_channel_slack_refuses_stops_the_updates_instead_of_retrying_forever(app, slack, gitlab, services):
    slack.fail_next(lambda c: c.api_method == "chat.postMessage" and c.body.get("channel") == TRIAGE,
                    body={"ok": False, "error": "channel_not_found"})
    app.submit("new-content", slack_state(new_content()))
    wait_until(lambda: gitlab.issues())
    from bot.store.models import Job, Notice

    def rows():
        with services.db.session() as s:
            notice = s.scalars(select(Notice).where(Notice.key.like("triage:%"))).first()
            job = s.scalars(select(Job).where(Job.kind == "triage_message")).first()
            return notice, job

    wait_until(lambda: rows()[0] is not None and rows()[0].failed_at is not None)
    services.dispatcher.run_once(now=services.clock() + timedelta(minutes=2))
    notice, job = rows()
    assert notice.last_error == "channel_not_found" and job.finished_at is not None and job.last_error
    assert deciders_messages(slack) == []


def test_steps_done_and_closing_in_slack_go_into_the_decision_thread(app, slack, gitlab, services):
    message = file_request(app, slack, gitlab)
    decide(app, slack, message, "learn.decide.accept", {})
    wait_until(lambda: decision_dms(slack))
    with services.db.session() as s:
        reminder_id = s.scalars(select(Reminder.id)).first()
    services.reminders.mark_done(reminder_id, user_id="U0REQ", now=services.clock())

    filed_dm = next(m for m in slack.messages("U0REQ") if "filed as" in m["text"])
    close = button(filed_dm, "learn.request.close")
    app.block_action("learn.request.close", value=close["value"], user="U0REQ", message=filed_dm)
    wait_until(lambda: request_row(services).status.value == "closed")
    services.dispatcher.run_once(now=services.clock() + timedelta(seconds=1))
    lines = [m["text"] for m in thread(slack, message)]
    assert any("marked" in t and "done" in t for t in lines), lines
    assert any("closed the request in Slack" in t for t in lines), lines
    wait_until(lambda: ":lock:" in json.dumps(deciders_messages(slack)[0]))


def gitlab_job(services):
    from bot.store.models import Job

    with services.db.session() as s:
        return s.scalars(select(Job).where(Job.kind == "decision_gitlab")).one()


def test_an_assignee_gitlab_will_not_look_up_leaves_the_label_and_note_written(app, slack, gitlab, services):
    message = file_request(app, slack, gitlab)
    issue = gitlab.issues()[0]
    # A token that may not list users: GitLab answers 403 to GET /users?username=…, every time.
    gitlab.fail_next(lambda c: c.method == "GET" and c.path.endswith("/users"), status=403, times=100)
    decide(app, slack, message, "learn.decide.accept", {"gitlab_username": text_input("lena"),
                                                        "text": text_input("Welcome aboard")})
    labels = wait_until(lambda: (i := gitlab.issue(issue["iid"])) and "ld-status::accepted" in i["labels"]
                        and i["labels"])
    assert "ld-status::new" not in labels and gitlab.issue(issue["iid"])["assignees"] == []
    assert any("Welcome aboard" in n["body"] for n in gitlab.notes(issue["iid"]))
    # The assignee problem on its own: on the job (learnbot show), and told to the decider who asked.
    job = wait_until(lambda: (j := gitlab_job(services)) and j.finished_at is not None and j)
    assert "assignee @lena not set" in job.last_error and "403" in job.last_error
    [told] = wait_until(lambda: [m for m in slack.messages("U0ADMIN") if "did not assign" in m["text"]])
    assert "403" in json.dumps(told["blocks"]) and issue["web_url"] in json.dumps(told["blocks"])
    assert [(e.state, e.actor) for e in events(services)] == [("accepted", "U0ADMIN")]
    assert len(decision_dms(slack)) == 1  # the requester heard of the decision, once

    services.dispatcher.run_once(now=services.clock() + timedelta(hours=2))  # nothing left to do, nothing twice
    assert len([m for m in slack.messages("U0ADMIN") if "did not assign" in m["text"]]) == 1
    assert len([n for n in gitlab.notes(issue["iid"]) if "Welcome aboard" in n["body"]]) == 1


def test_an_assignee_look_up_gitlab_cannot_answer_now_is_retried_after_the_label_is_written(app, slack, gitlab,
                                                                                           services):
    message = file_request(app, slack, gitlab)
    issue = gitlab.issues()[0]
    gitlab.fail_next(lambda c: c.method == "GET" and c.path.endswith("/users"), status=503, times=1)
    decide(app, slack, message, "learn.decide.accept", {"gitlab_username": text_input("lena")})
    wait_until(lambda: "ld-status::accepted" in gitlab.issue(issue["iid"])["labels"])
    job = wait_until(lambda: (j := gitlab_job(services)) and j.last_error and j)
    assert job.finished_at is None and "assignee @lena not set yet" in job.last_error
    assert gitlab.issue(issue["iid"])["assignees"] == []
    services.dispatcher.run_once(now=services.clock() + timedelta(minutes=5))
    assert [a["username"] for a in gitlab.issue(issue["iid"])["assignees"]] == ["lena"]
    assert not [m for m in slack.messages("U0ADMIN") if "did not assign" in m["text"]]


# --- dates within reach (SPEC §15) ---------------------------------------------------------------


def test_a_date_years_ahead_is_refused_in_the_form_and_the_waitlist_modal(app, slack, gitlab, services):
    resp = app.submit("new-content", slack_state(new_content(needed_by="9999-12-31")))
    assert resp.status_code == 200 and resp.json()["response_action"] == "errors"
    assert "more than 5 years ahead" in resp.json()["errors"]["needed_by"]
    assert request_row(services) is None  # nothing stored

    message = file_request(app, slack, gitlab)
    _, resp = decide(app, slack, message, "learn.decide.waitlist", {"until": {"type": "datepicker",
                                                                                  "selected_date": "9999-12-31"}})
    assert resp.json()["response_action"] == "errors" and "more than 5 years" in resp.json()["errors"]["until"]
    assert request_row(services).decision_state == "new"


def test_accepting_a_request_naming_someone_paused_through_9999_plans_their_reminders(app, slack, gitlab, services):
    from bot.store.models import Person

    with services.db.session() as s:  # stored before dates were bounded
        s.add(Person(slack_user_id="U0COOWNER", tz="Australia/Sydney", refreshed_at=services.clock(),
                     paused_through=date(9999, 12, 31)))
    raw = {**RAW["new-pathway"], "launch_date": (services.clock() + timedelta(days=60)).date().isoformat()}
    message = file_request(app, slack, gitlab, key="new-pathway", raw=raw)
    _, resp = decide(app, slack, message, "learn.decide.accept", {})
    assert resp.status_code == 200 and "Accepted" in json.dumps(resp.json()["view"])
    assert request_row(services).decision_state == "accepted"
    with services.db.session() as s:
        held = list(s.scalars(select(Reminder).where(Reminder.recipient_id == "U0COOWNER")))
        theirs = list(s.scalars(select(Reminder).where(Reminder.recipient_id == "U0REQ")))
    assert held and theirs  # everyone's reminders are planned; the leave holds the co-owner's for years
    assert min(r.due_at for r in held) > services.clock() + timedelta(days=4 * 365)


def test_a_co_owner_who_stepped_out_gets_no_reminders_when_the_request_is_accepted(app, slack, gitlab, services):
    raw = {**RAW["new-pathway"], "launch_date": (services.clock() + timedelta(days=60)).date().isoformat()}
    message = file_request(app, slack, gitlab, key="new-pathway", raw=raw)  # co-owner U0COOWNER
    [told] = wait_until(lambda: [m for m in slack.messages("U0COOWNER") if "named you" in m["text"]])
    assert "as *Co-owners*" in json.dumps(told["blocks"])
    out = button(told, "learn.named.step_out")
    app.block_action("learn.named.step_out", value=out["value"], user="U0COOWNER", message=told)
    wait_until(lambda: "stepped out" in slack.messages("U0COOWNER")[0]["text"])
    assert reminder_count(services) == 0  # none yet: the request waits for a decision

    decide(app, slack, message, "learn.decide.accept", {})
    with services.db.session() as s:
        planned = {r.recipient_id for r in s.scalars(select(Reminder))}
    assert planned == {"U0REQ"}  # accepting it plans no reminders for whoever stepped out
