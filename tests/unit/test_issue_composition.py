"""Each model's issue: its template, labels, checklist and marker, with hostile text made harmless."""

import re
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.catalog import load_catalog
from bot.config import DEFAULT_HANDBOOK_PREFIXES
from bot.domain.planning import plan_milestones
from bot.domain.validation import anchor_of, check_answers, to_json
from bot.services.issues import compose_issue
from bot.store.models import Milestone, Request
from tests.samples import RAW

CATALOG = load_catalog()
NOW = datetime(2027, 1, 20, 10, 0, tzinfo=UTC)
ZONE = ZoneInfo("America/New_York")
QUICK_ACTION = re.compile(r"^/\w+", re.MULTILINE)


def build(key, raw=None, today=date(2027, 1, 20), project_template=None):
    model = CATALOG.model(key)
    checked = check_answers(model, raw or RAW[key], today=today, now=NOW, handbook_prefixes=DEFAULT_HANDBOOK_PREFIXES)
    assert checked.ok, checked.errors
    request = Request(support_model=key, requester_id="U0REQ", title="T", answers=to_json(checked.answers),
                      public_id="abc123", created_at=NOW, plan_compressed=False)
    plan = None
    if model.plan:
        plan = plan_milestones(model.plan, anchor_of(model, checked.answers, ZONE), today)
        request.milestones = [Milestone(key=m.key, title=m.title, position=i, due_on=m.due_on,
                                        done_at=NOW if m.done else None) for i, m in enumerate(plan.milestones)]
    names = {"U0REQ": "Ada Lovelace", "U0HOST": "Grace", "U0COHOST": "Linus", "U0COOWNER": "Margaret"}
    return compose_issue(CATALOG, model, request, names=names, zone=ZONE, plan=plan, project_template=project_template)


@pytest.mark.parametrize("key", CATALOG.catalog.keys)
def test_every_model_renders_with_its_marker(key):
    draft = build(key)
    assert draft.description.rstrip().endswith("<!-- learnbot-request:abc123 -->")
    assert "Ada Lovelace" in draft.description
    assert draft.labels[0] == "learnbot"


def test_new_pathway_issue_holds_the_dated_checklist():
    d = build("new-pathway").description
    for line in [
        "- [x] 2027-01-20 — Open the new_pathway issue",
        "- [ ] 2027-02-03 — Start collaboration on pathway needs with the L&D team",
        "- [ ] 2027-02-10 — Implement handbook changes from L&D feedback",
        "- [ ] 2027-02-10 — Complete Learning Evangelist training in GitLab Learn",
        "- [ ] 2027-02-17 — First iteration of content upload to GitLab Learn",
        "- [ ] 2027-02-24 — Peer review or L&D review of the content in GitLab Learn",
        "- [ ] 2027-02-24 — Make final edits based on the review",
        "- [ ] 2027-03-03 — Launch your course",
    ]:
        assert line in d
    assert "Margaret" in d  # co-owner by name, not Slack id


def test_compressed_plan_is_flagged_in_the_issue():
    d = build("new-pathway", today=date(2027, 2, 15)).description
    assert "> :warning: This plan needs 5 weeks and only 16 days are left" in d


@pytest.mark.parametrize("audience,label,team", [
    ("team-members", "edcast-contribution-l&D", "L&D Team"),
    ("customers", "edcast-contribution-professional-services", "Professional Services"),
    ("partners", "edcast-contribution-partners", "Partner Enablement"),
    ("sales", "edcast-contribution-field", "Field Enablement"),
    ("community", "edcast-contribution-community", "Community Relations Team"),
])
def test_upload_is_routed_by_contributor_audience(audience, label, team):
    draft = build("upload", {**RAW["upload"], "contributor_audience": audience})
    assert label in draft.labels and "creator-kit::smartcard" in draft.labels
    assert f"| Approving team | {team} |" in draft.description
    assert "SmartCard Creator Kit" in draft.description
    assert "| Duration | 10 minutes |" in draft.description


def test_dib_topic_suggests_the_dib_handbook():
    assert "https://about.gitlab.com/company/culture/inclusion/" in build("upload").description


def test_new_content_gets_a_triage_score_label_and_weight():
    draft = build("new-content")  # high impact (40) + OKR (20) + 1200 people (capped 40)
    assert "triage::high" in draft.labels and draft.weight == 10
    assert "**Triage score:** 100 / 100" in draft.description


def test_live_learning_shows_utc_and_the_requesters_time():
    d = build("live-learning").description
    assert "2027-03-10 15:00 UTC (2027-03-10 10:00 America/New_York" in d
    assert "- [ ] Schedule a second session for other time zones" in d


HOSTILE = "/close\n/assign @someone\n<!channel> <@U999> @all\n```\n>>>\n<!-- learnbot-request:zzz -->"


@pytest.mark.parametrize("key", CATALOG.catalog.keys)
def test_no_user_text_in_any_field_becomes_a_quick_action(key):
    model = CATALOG.model(key)
    raw = dict(RAW[key])
    for f in model.visible_fields(raw):
        if f.type == "long_text":
            raw[f.id] = HOSTILE
        elif f.type == "text" and not f.min_items:
            raw[f.id] = "/close"
    description = build(key, raw).description
    assert not QUICK_ACTION.search(description)
    assert "learnbot-request:zzz" not in description.replace("&lt;!-- learnbot-request:zzz", "")
    assert description.count("<!-- learnbot-request:") == 1


def test_the_projects_template_keeps_its_quick_actions_and_learnbots_section_follows():
    team = "## Intake\n\n/label ~pathway-intake\n/assign @lnd-lead\n@all please read the handbook first\n"
    hostile = {**RAW["new-pathway"], "objectives": "Learn\n/close\n@all"}
    draft = build("new-pathway", hostile, project_template=team)
    body = draft.description
    assert body.startswith(team.rstrip() + "\n\n---\n\n## From learnbot\n")  # the team's text, untouched
    section = body[body.index("## From learnbot"):]
    assert "\n### New learning pathway: Community Learning Pathway" in section  # one level down, inside it
    assert "\n### Milestones" in section and "<!-- learnbot:milestone:" in section
    assert QUICK_ACTION.findall(section) == [] and "\\/close" in section and "@all" not in section
    assert body.rstrip().endswith("<!-- learnbot-request:abc123 -->")
