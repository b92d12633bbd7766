"""The same need from several teams (§16, issue 17 point 5), over HTTP through the stand-ins: the deciders' card
names the earlier similar requests with links and teams, and Link as related makes one GitLab link."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.container import Services
from bot.domain.report import Period
from bot.services.similar import clusters_found
from bot.store.models import Job, JobKind, Request, SimilarRequest
from tests.e2e.harness import wait_until
from tests.samples import RAW, slack_state

pytestmark = pytest.mark.e2e
TRIAGE = "C0TRIAGE"
LINK = "learn.decide.link_similar"


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    return {**env, "LEARNBOT_TRIAGE_CHANNEL": TRIAGE}


@pytest.fixture(autouse=True)
def channel(slack):
    slack.invite_bot(TRIAGE)


def need(topic: str, team: str, outcomes: str) -> dict:
    needed = (Services.clock() + timedelta(days=120)).date().isoformat()
    return {**RAW["new-content"], "topic": topic, "team": team, "outcomes": outcomes, "needed_by": needed}


NEGOTIATION_SALES = need("Negotiation skills for account executives", "Sales <!here> & Co",
                         "Our AEs lose deals at the pricing stage; they need negotiation practice.")
SPEAKING = need("Public speaking for engineers", "Support", "Engineers presenting at conferences need coaching.")
NEGOTIATION_CS = need("Negotiation training for the sales team", "Customer Success",
                      "Reps need to negotiate better on price and terms.")


def cards(slack) -> list[dict]:
    return [m for m in slack.messages(TRIAGE) if not m.get("thread_ts") or m["thread_ts"] == m["ts"]]


def card_of(slack, title_part: str) -> dict | None:
    return next((m for m in cards(slack) if title_part in m["text"]), None)


def file(app, slack, raw: dict) -> dict:
    """Submit a request; its card once the issue's link is on it."""
    app.submit("new-content", slack_state(raw))
    return wait_until(lambda: (c := card_of(slack, raw["topic"])) is not None and "/issues/" in json.dumps(c) and c,
                      what=f"the card of {raw['topic']!r} with its issue")


def row(services, topic: str) -> Request:
    with services.db.session() as s:
        found = s.scalars(select(Request).where(Request.title.contains(topic))).one()
        s.expunge(found)
        return found


def block_texts(message: dict) -> str:
    return "\n".join(str(b.get("text", {}).get("text", "")) for b in message.get("blocks") or [])


def link_button(message: dict) -> dict | None:
    for block in message.get("blocks") or []:
        accessory = block.get("accessory")
        if isinstance(accessory, dict) and accessory.get("action_id") == LINK:
            return accessory
    return None


def file_three(app, slack, services) -> tuple[Request, Request, Request]:
    file(app, slack, NEGOTIATION_SALES)
    file(app, slack, SPEAKING)
    file(app, slack, NEGOTIATION_CS)
    wait_until(lambda: "Similar" in block_texts(card_of(slack, NEGOTIATION_CS["topic"]) or {}),
               what="the similar requests on the third card")
    return row(services, NEGOTIATION_SALES["topic"]), row(services, SPEAKING["topic"]), row(services,
                                                                                          NEGOTIATION_CS["topic"])


def test_the_card_names_the_earlier_request_with_its_link_and_team_and_leaves_the_unrelated_out(
        app, slack, gitlab, services):
    first, speaking, third = file_three(app, slack, services)
    card = block_texts(card_of(slack, NEGOTIATION_CS["topic"]))
    line = next(ln for ln in card.splitlines() if ln.startswith("*Similar:*"))
    # A link to exactly the first issue, its team escaped (no @here, no stray link), nothing about speaking.
    assert line == f"*Similar:* <{first.gitlab_url}|#{first.gitlab_iid}> (Sales &lt;!here&gt; &amp; Co)"
    assert f"#{speaking.gitlab_iid}>" not in card
    assert link_button(card_of(slack, NEGOTIATION_CS["topic"]))["value"] == str(third.id)
    # The first two found nothing like them: their cards say nothing of it and offer no button.
    for raw in (NEGOTIATION_SALES, SPEAKING):
        assert "Similar" not in block_texts(card_of(slack, raw["topic"]))
        assert link_button(card_of(slack, raw["topic"])) is None
    with services.db.session() as s:
        pairs = [(p.request_id, p.similar_id) for p in s.scalars(select(SimilarRequest))]
    assert pairs == [(third.id, first.id)]
    with services.db.session() as s:
        now = services.clock()
        assert clusters_found(s, now - timedelta(days=1), now + timedelta(days=1)) == [
            sorted([first.id, third.id])]
    # The L&D report lists the period's cluster; the period before has none.
    today = now.astimezone(services.settings.timezone).date()
    report = services.report.build(Period(today - timedelta(days=1), today + timedelta(days=1)), now=now)
    assert report["similar"] == [sorted([first.id, third.id])] and report["previous"]["similar"] == []


def test_link_as_related_makes_one_gitlab_link_even_pressed_twice(app, slack, gitlab, services):
    first, _speaking, third = file_three(app, slack, services)
    card = card_of(slack, NEGOTIATION_CS["topic"])
    app.block_action(LINK, value=str(third.id), user="U0ADMIN", message=card)
    wait_until(lambda: gitlab.links(third.gitlab_iid), what="the GitLab link")
    said = wait_until(lambda: [c for c in slack.calls_to("chat.postEphemeral") if c.body.get("user") == "U0ADMIN"])
    assert "Linking 1 similar request as related" in json.dumps(said[0].body)
    # The card says so, and offers no second link.
    wait_until(lambda: "Linked as related in GitLab" in json.dumps(card_of(slack, NEGOTIATION_CS["topic"])),
               what="the card redrawn")
    assert link_button(card_of(slack, NEGOTIATION_CS["topic"])) is None

    app.block_action(LINK, value=str(third.id), user="U0ADMIN", message=card)  # the old message, pressed again
    again = wait_until(lambda: [c for c in slack.calls_to("chat.postEphemeral")
                                if c.body.get("user") == "U0ADMIN" and "already linked" in json.dumps(c.body)])
    assert again
    services.dispatcher.run_once(now=services.clock() + timedelta(hours=2))
    links = gitlab.links(third.gitlab_iid)
    assert [(link["iid"], link["link_type"]) for link in links] == [(first.gitlab_iid, "relates_to")]
    assert [link["iid"] for link in gitlab.links(first.gitlab_iid)] == [third.gitlab_iid]  # two-way, as GitLab
    posts = [c for c in gitlab.calls if c.method == "POST" and c.path.endswith("/links")]
    assert len(posts) == 1 and posts[0].body["link_type"] == "relates_to"
    assert posts[0].body["target_issue_iid"] == first.gitlab_iid


def test_only_deciders_link(app, slack, gitlab, services):
    _first, _speaking, third = file_three(app, slack, services)
    app.block_action(LINK, value=str(third.id), user="U0REQ", message=card_of(slack, NEGOTIATION_CS["topic"]))
    said = wait_until(lambda: [c for c in slack.calls_to("chat.postEphemeral") if c.body.get("user") == "U0REQ"])
    assert "Only L&amp;D admins" in json.dumps(said[0].body) or "Only L&D admins" in json.dumps(said[0].body)
    services.dispatcher.run_once(now=services.clock() + timedelta(hours=2))
    assert gitlab.links(third.gitlab_iid) == []


def test_a_lost_answer_and_a_5xx_are_retried_into_exactly_one_link(app, slack, gitlab, services):
    first, _speaking, third = file_three(app, slack, services)
    # GitLab makes the link but its answer is lost; then the next try meets a 502.
    gitlab.fail_next(lambda c: c.method == "POST" and c.path.endswith("/links"), drop=True, after_effect=True)
    gitlab.fail_next(lambda c: c.method == "GET" and c.path.endswith("/links"), status=502)
    app.block_action(LINK, value=str(third.id), user="U0ADMIN", message=card_of(slack, NEGOTIATION_CS["topic"]))
    wait_until(lambda: gitlab.links(third.gitlab_iid), what="the link GitLab made")

    def job() -> Job:
        with services.db.session() as s:
            found = s.scalars(select(Job).where(Job.kind == JobKind.LINK_SIMILAR, Job.request_id == third.id)).one()
            s.expunge(found)
            return found

    wait_until(lambda: job().attempts >= 1 and job().finished_at is None, what="the job waiting to retry")
    later = services.clock()
    for minutes in (5, 20, 60):  # past the backoff: the 502, then a try that finds the link made
        services.dispatcher.run_once(now=later + timedelta(minutes=minutes))
    assert job().finished_at is not None and job().last_error is None
    assert [link["iid"] for link in gitlab.links(third.gitlab_iid)] == [first.gitlab_iid]
    posts = [c for c in gitlab.calls if c.method == "POST" and c.path.endswith("/links")]
    assert len(posts) == 1  # never made twice


def test_the_stand_in_answers_issue_links_as_gitlab_does(gitlab):
    import requests

    project = gitlab.add_project("learning-development/links")
    one, two = gitlab.create_issue("One", project=project["id"]), gitlab.create_issue("Two", project=project["id"])
    api = f"{gitlab.url}/api/v4/projects/{project['id']}/issues"
    headers = {"PRIVATE-TOKEN": gitlab.token}
    body = {"target_project_id": project["id"], "target_issue_iid": two["iid"], "link_type": "relates_to"}
    made = requests.post(f"{api}/{one['iid']}/links", json=body, headers=headers, timeout=5)
    assert made.status_code == 201
    assert made.json()["source_issue"]["iid"] == one["iid"] and made.json()["target_issue"]["iid"] == two["iid"]
    assert made.json()["link_type"] == "relates_to"
    again = requests.post(f"{api}/{two['iid']}/links", headers=headers, timeout=5,
                          json={**body, "target_issue_iid": one["iid"]})
    assert again.status_code == 409  # one link between two issues, whichever side asks
    unknown = requests.post(f"{api}/{one['iid']}/links", headers=headers, timeout=5,
                            json={**body, "target_issue_iid": 999})
    assert unknown.status_code == 404
    assert requests.post(f"{api}/999/links", json=body, headers=headers, timeout=5).status_code == 404
    missing = requests.post(f"{api}/{one['iid']}/links", json={"target_project_id": project["id"]},
                            headers=headers, timeout=5)
    assert missing.status_code == 400
    listed = requests.get(f"{api}/{two['iid']}/links", headers=headers, timeout=5).json()
    assert [(i["iid"], i["link_type"]) for i in listed] == [(one["iid"], "relates_to")]
    assert {"issue_link_id", "link_created_at", "web_url"} <= set(listed[0])


def test_only_recent_requests_are_compared_in_one_query(services):
    """The candidates: the newest of the last 180 days (not refused ones), read in one SELECT."""
    from sqlalchemy import event

    from bot.services.similar import CANDIDATES, WINDOW
    from bot.store.models import RequestStatus

    now = services.clock()

    def add(s, title: str, *, days: float, status=RequestStatus.OPEN) -> Request:
        r = Request(support_model="content-review", requester_id="U0REQ", title=f"Content review: {title}",
                    answers={"title": title}, status=status, created_at=now - timedelta(days=days),
                    updated_at=now)
        s.add(r)
        s.flush()
        return r

    with services.db.session() as s:
        recent = add(s, "Phishing awareness for everyone", days=10)
        closed = add(s, "Phishing awareness training", days=100, status=RequestStatus.CLOSED)
        add(s, "Phishing awareness", days=WINDOW.days + 1)  # half a year ago: another conversation
        add(s, "Phishing awareness", days=1, status=RequestStatus.FAILED)  # never filed
        add(s, "Public speaking", days=2)
        new = add(s, "Phishing awareness", days=0)
        statements: list[str] = []

        def record(_conn, _cursor, statement, *_args):
            statements.append(statement)

        event.listen(services.db.engine, "before_cursor_execute", record)
        try:
            found = services.similar.find(s, new, now=now)
        finally:
            event.remove(services.db.engine, "before_cursor_execute", record)
    assert sorted(i for i, _ in found) == sorted([recent.id, closed.id])
    reads = [st for st in statements if st.lstrip().upper().startswith("SELECT")]
    assert len(reads) <= 2, reads  # the candidates, and the pairs already stored
    assert "LIMIT" in reads[0].upper() and CANDIDATES >= 100
