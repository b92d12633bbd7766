"""Messages owed to people are stored jobs: a 5xx, a timeout or a lost answer delays them, never loses
or doubles them, and one that Slack refuses for good does not hold up the others."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.store import notices as outbox
from bot.store.models import Notice, Request, RequestStatus
from tests.e2e.harness import wait_until
from tests.samples import slack_state
from tests.standins import gitlab_hooks as hooks
from tests.standins.slack import DEFAULT_SCOPES

pytestmark = pytest.mark.e2e




def notices(services) -> list[Notice]:
    with services.db.session() as s:
        return list(s.scalars(select(Notice).order_by(Notice.id)))


def posted_texts(slack, user) -> list[str]:
    return [m["text"] for m in slack.messages(user)]


def alone(dates) -> dict:
    """A pathway naming no co-owner: the only notices are the requester's (a co-owner is told it was named)."""
    return {**dates.raw("new-pathway"), "co_owners": []}


def dispatch(services, minutes):
    return services.dispatcher.run_once(now=services.clock() + timedelta(minutes=minutes))


def test_filed_dm_that_slack_fails_with_a_5xx_is_sent_later_exactly_once(app, slack, gitlab, services, dates):
    slack.fail_next(lambda c: c.api_method == "chat.postMessage" and c.body.get("channel") == "U0REQ", status=500)
    app.submit("new-pathway", slack_state(alone(dates)))
    wait_until(lambda: gitlab.issues())
    [notice] = wait_until(lambda: [n for n in notices(services) if n.last_error])
    assert notice.key.startswith("filed:") and notice.sent_at is None and "500" in notice.last_error
    assert not any("filed as" in t for t in posted_texts(slack, "U0REQ"))

    assert dispatch(services, 0).notices == []  # backing off: not due yet
    report = dispatch(services, 2)
    assert [n.said for n in report.notices] == ["sent"]
    assert sum("filed as" in t for t in posted_texts(slack, "U0REQ")) == 1
    assert dispatch(services, 120).notices == []


def test_a_lost_answer_is_found_by_its_metadata_not_sent_twice(app, slack, gitlab, services, dates):
    # Slack posts the DM, but the answer never arrives: learnbot cannot know it was delivered.
    slack.fail_next(lambda c: c.api_method == "chat.postMessage" and c.body.get("channel") == "U0REQ",
                    drop=True, after_effect=True)
    app.submit("new-pathway", slack_state(alone(dates)))
    wait_until(lambda: [n for n in notices(services) if n.last_error])
    assert sum("filed as" in t for t in posted_texts(slack, "U0REQ")) == 1

    report = dispatch(services, 2)
    assert [n.said for n in report.notices] == ["found"]
    assert sum("filed as" in t for t in posted_texts(slack, "U0REQ")) == 1
    [notice] = notices(services)
    assert notice.sent_at is not None and notice.slack_ts


def test_issue_changed_dm_survives_slack_being_down(app, slack, gitlab, services, dates):
    app.submit("new-pathway", slack_state(alone(dates)))
    wait_until(lambda: any("filed as" in t for t in posted_texts(slack, "U0REQ")))
    issue = gitlab.issues()[0]
    slack.fail_next(lambda c: c.api_method == "chat.postMessage", status=503, times=3)
    payload = hooks.issue_event(gitlab.close_issue(issue["iid"]), action="close")
    head = hooks.headers(hooks.event_header(payload), token="hook-secret", idempotency_key="close-1")
    import json

    assert app.session.post(f"{app.url}/gitlab/webhook", data=json.dumps(payload), headers=head,
                            timeout=10).status_code == 200
    wait_until(lambda: [n for n in notices(services) if n.key.startswith("issue-event:") and n.last_error])
    with services.db.session() as s:
        assert s.scalars(select(Request)).one().status is RequestStatus.CLOSED  # the change is kept
    dispatch(services, 2)  # 503 (second of three)
    dispatch(services, 5)  # 503 (third)
    report = dispatch(services, 20)
    assert [n.said for n in report.notices] == ["sent"]
    assert sum("changed in GitLab" in t for t in posted_texts(slack, "U0REQ")) == 1


def test_one_notice_slack_refuses_for_good_does_not_stop_the_others(slack, services):
    now = services.clock()
    with services.db.session() as s:
        outbox.enqueue(s, key="t:gone", recipient="U0NOBODY", text="to nobody", due_at=now)
        outbox.enqueue(s, key="t:ok", recipient="U0REQ", text="to Ada", due_at=now)
        again = outbox.enqueue(s, key="t:ok", recipient="U0REQ", text="to Ada, twice", due_at=now)
        assert again.text == "to Ada"  # the same key is owed once
    report = services.dispatcher.run_once(now=now)
    assert sorted(n.said for n in report.notices) == ["failed", "sent"]
    gone = next(n for n in notices(services) if n.key == "t:gone")
    assert gone.failed_at is not None and gone.last_error == "channel_not_found"
    assert posted_texts(slack, "U0REQ") == ["to Ada"]
    assert services.dispatcher.run_once(now=now + timedelta(hours=2)).notices == []  # failed stays failed


OLD_MANIFEST_SCOPES = [s for s in DEFAULT_SCOPES if s != "groups:history"]  # manifest.yml before issue 15


@pytest.mark.parametrize(("scopes", "found"), [(list(DEFAULT_SCOPES), True), (OLD_MANIFEST_SCOPES, False)],
                         ids=["manifest", "manifest-without-groups-history"])
def test_a_lost_post_to_a_private_channel_is_found_with_the_manifests_scopes(slack, services, scopes, found):
    """A private digest or triage channel: the retry reads its history (groups:history) before posting again."""
    slack.scopes = scopes
    slack.invite_bot("C0PRIVATE", private=True)
    now = services.clock()
    with services.db.session() as s:
        outbox.enqueue(s, key="t:private", recipient="C0PRIVATE", text="the weekly digest", due_at=now)
    slack.fail_next(lambda c: c.api_method == "chat.postMessage", drop=True, after_effect=True)
    assert [n.said for n in services.dispatcher.run_once(now=now).notices] == ["retry"]

    report = dispatch(services, 2)
    [history] = slack.calls_to("conversations.history")
    [notice] = notices(services)
    assert [m["text"] for m in slack.messages("C0PRIVATE")] == ["the weekly digest"]  # never posted twice
    if found:
        assert [n.said for n in report.notices] == ["found"] and notice.sent_at is not None
    else:  # Slack's answer to the old manifest's token: the notice waits for a fix that only the manifest had
        assert history.response == {"ok": False, "error": "missing_scope", "needed": "groups:history",
                                    "provided": ",".join(OLD_MANIFEST_SCOPES)}
        assert [n.said for n in report.notices] == ["retry"] and "groups:history" in notice.last_error
