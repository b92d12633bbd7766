"""The Workflow Builder step "Request L&D support" end to end: Slack's function_executed event in, shaped as
Bolt's own tests shape it (event.function.callback_id, event.inputs, event.function_execution_id,
event.bot_access_token), and functions.completeSuccess / completeError out, through the stand-ins."""

from __future__ import annotations

import json
import shutil
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from bot.catalog.schema import SHIPPED_CATALOG
from bot.container import Services
from bot.messages.ids import Action
from bot.store.models import Milestone, Request
from bot.store.workflow import WorkflowStep
from tests.e2e.harness import wait_until
from tests.samples import slack_state

CREATE = ("POST", r"/issues$")


ASK = {  # a model whose form the step's inputs fill on their own (the "enough inputs" case)
    "key": "ask-ld", "name": "Ask the L&D team", "modal_title": "Ask L&D", "summary": "A question for L&D.",
    "template": "ask.md.j2", "issue_title": "Question: {{ answers.title }}", "labels": ["question"],
    "needs_decision": False,
    "fields": [{"id": "title", "type": "text", "label": "Question", "max_length": 150},
               {"id": "details", "type": "long_text", "label": "Details", "required": False, "max_length": 2000},
               {"id": "needed_by", "type": "date", "label": "Needed by", "not_past": True}],
    "plan": {"anchor": "needed_by", "milestones": [{"key": "answer", "title": "Answer it", "days": -7},
                                                   {"key": "needed-by", "title": "Needed by", "days": 0}]},
    "workflow_inputs": {"title": "title", "details": "details", "needed_by": "needed_by"},
}


@pytest.fixture
def env(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """The shipped catalogue and its templates, plus ASK."""
    templates = tmp_path / "templates"
    shutil.copytree(SHIPPED_CATALOG.parent / "templates", templates)
    (templates / "ask.md.j2").write_text('## {{ answers.title }}\n\n{% include "_about.md.j2" %}\n\n'
                                         '{{ answers.details }}\n{% include "_plan.md.j2" %}\n')
    data = yaml.safe_load(SHIPPED_CATALOG.read_text())
    data["models"].append(ASK)
    path = tmp_path / "catalog.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return {**env, "LEARNBOT_CATALOG": str(path)}


def needed_by(days: int = 45) -> str:
    return (Services.clock().date() + timedelta(days=days)).isoformat()


def function_executed(execution_id: str, token: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """The Events API delivery of a custom step, as Slack sends it (Bolt's tests/scenario_tests/test_function.py)."""
    return {
        "token": "verification_token", "team_id": "T0LBOT001", "api_app_id": "A0LBOT001",
        "event": {
            "type": "function_executed",
            "function": {
                "id": "Fn0LEARN", "callback_id": "request_ld_support", "title": "Request L&D support",
                "description": "File a request with the L&D team", "type": "app", "app_id": "A0LBOT001",
                "input_parameters": [{"type": "string", "name": "support_model", "title": "Support model",
                                      "is_required": True}],
                "output_parameters": [{"type": "string", "name": "issue_url", "title": "Issue link",
                                       "is_required": True}],
                "date_updated": 1659054991,
            },
            "inputs": inputs,
            "function_execution_id": execution_id,
            "event_ts": f"{time.time():.6f}",
            "bot_access_token": token,
        },
        "type": "event_callback", "event_id": f"Ev{time.monotonic_ns()}", "event_time": int(time.time()),
        "authed_users": ["W0LEARN"],
    }


def run_step(app, slack, inputs: dict[str, Any], *, execution: tuple[str, str] | None = None):
    execution_id, token = execution or slack.start_function()
    started = time.monotonic()
    resp = app.post_signed(json.dumps(function_executed(execution_id, token, inputs)),
                           headers={"Content-Type": "application/json"})
    assert resp.status_code == 200
    return execution_id, token, time.monotonic() - started


def ended(slack, execution_id: str) -> dict[str, Any]:
    return wait_until(lambda: slack.executions[execution_id]["state"] != "running" and slack.executions[execution_id],
                      what="the step ended")


def accepted(slack, method: str) -> list:
    return [c for c in slack.calls_to(method) if c.done and isinstance(c.response, dict) and c.response.get("ok")]


def requests_of(services) -> list[Request]:
    with services.db.session() as s:
        return list(s.scalars(select(Request).order_by(Request.id)))


def request_milestones(services, request_id: int) -> list[Milestone]:
    with services.db.session() as s:
        return list(s.scalars(select(Milestone).where(Milestone.request_id == request_id)))


def test_enough_inputs_file_at_once_and_complete_the_step_with_its_outputs(app, slack, gitlab, services):
    due = needed_by()
    execution_id, token, _ = run_step(app, slack, {
        "support_model": "ask-ld", "requester": "U0REQ", "title": "Onboarding pathway copy",
        "details": "Please check tone and links", "needed_by": due})
    done = ended(slack, execution_id)
    assert done["state"] == "completed"
    [issue] = gitlab.issues()
    [request] = requests_of(services)
    first = min(m.due_on for m in request_milestones(services, request.id))
    assert first < date.fromisoformat(due)  # the plan's first date, not the anchor
    assert done["outputs"] == {"request_id": str(request.id), "issue_url": issue["web_url"],
                               "first_due": first.isoformat()}
    assert issue["title"] == "Question: Onboarding pathway copy"
    assert "Please check tone and links" in issue["description"]
    assert request.requester_id == "U0REQ"
    [call] = accepted(slack, "functions.completeSuccess")
    assert call.header("Authorization") == f"Bearer {token}"  # the event's own token, as Bolt's complete() uses
    # The requester hears about it as after the modal: the usual "filed as" DM.
    wait_until(lambda: any("filed" in (m.get("text") or "") for m in slack.messages(slack.dm_channel("U0REQ"))),
               what="the requester's DM")


def test_missing_answers_dm_a_button_to_a_prefilled_form_and_complete_once_it_is_submitted(app, slack, gitlab,
                                                                                          services, dates):
    due = needed_by(60)
    execution_id, _token, _ = run_step(app, slack, {
        "support_model": "new-content", "requester": "U0REQ", "title": "Merge request etiquette",
        "details": "Review MRs kindly", "needed_by": due})
    dm = wait_until(lambda: next((m for m in slack.messages(slack.dm_channel("U0REQ"))
                                  if Action.WORKFLOW_FORM.value in json.dumps(m.get("blocks") or [])), None),
                    what="the DM with the form's button")
    assert slack.executions[execution_id]["state"] == "running" and gitlab.issues() == []
    [button] = [e for b in dm["blocks"] for e in [b.get("accessory") or {}] if e.get("action_id")]
    assert app.block_action(Action.WORKFLOW_FORM.value, value=button["value"], message=dm).status_code == 200
    form = slack.wait_for("views.open")[-1].body["view"]
    by_id = {b["block_id"]: b["element"] for b in form["blocks"] if b["type"] == "input"}
    assert by_id["topic"]["initial_value"] == "Merge request etiquette"
    assert by_id["outcomes"]["initial_value"] == "Review MRs kindly"
    assert by_id["needed_by"]["initial_date"] == due
    assert json.loads(form["private_metadata"])["workflow"] == int(button["value"])

    raw = dates.raw("new-content", topic="Merge request etiquette", outcomes="Review MRs kindly", needed_by=due)
    resp = app.submit("new-content", slack_state(raw), metadata={"workflow": int(button["value"])})
    assert resp.json()["response_action"] == "update"
    done = ended(slack, execution_id)
    [issue] = gitlab.issues()
    [request] = requests_of(services)
    assert done["state"] == "completed"
    first = min(m.due_on for m in request_milestones(services, request.id))  # a weekend date moves to a weekday
    assert done["outputs"] == {"request_id": str(request.id), "issue_url": issue["web_url"],
                               "first_due": first.isoformat()}
    # The button again: the step is over, the form is not opened a second time.
    app.block_action(Action.WORKFLOW_FORM.value, value=button["value"], message=dm)
    last = wait_until(lambda: len(slack.calls_to("views.open")) == 2 and slack.calls_to("views.open")[-1],
                      what="the second views.open")
    assert "already sent" in json.dumps(last.body["view"])


@pytest.mark.parametrize(("inputs", "named"), [
    ({"support_model": "yoga-retreat", "requester": "U0REQ", "title": "Stretch"}, "yoga-retreat"),
    ({"support_model": "content-review", "requester": "U0BOTTY", "title": "Stretch"}, "U0BOTTY"),
    ({"support_model": "content-review", "requester": "U0NOBODY", "title": "Stretch"}, "U0NOBODY"),
])
def test_an_unknown_model_or_a_requester_who_is_not_a_person_ends_the_step_with_an_error(
        app, slack, gitlab, services, inputs, named):
    slack.add_user("U0BOTTY", name="deploybot", is_bot=True)
    execution_id, _token, _ = run_step(app, slack, inputs)
    done = ended(slack, execution_id)
    assert done["state"] == "failed"
    assert named in done["error"]
    if named == "yoga-retreat":
        assert "content-review" in done["error"]  # the models it could have named
    assert gitlab.issues() == [] and requests_of(services) == []
    assert not accepted(slack, "functions.completeSuccess")


def test_the_answer_to_slack_never_waits_for_gitlab(app, slack, gitlab):
    inputs = {"support_model": "ask-ld", "requester": "U0REQ", "title": "Held", "needed_by": needed_by()}
    with gitlab.hold(CREATE) as creating:
        execution_id, _token, took = run_step(app, slack, inputs)
        assert took < 2.0 and gitlab.issues() == []
        creating.wait_for(1, timeout=10)  # the filing did start, after the answer
        assert slack.executions[execution_id]["state"] == "running"
    assert ended(slack, execution_id)["state"] == "completed"


def test_a_redelivered_event_and_a_retried_completion_end_the_step_once(app, slack, gitlab, services):
    execution = slack.start_function()
    inputs = {"support_model": "ask-ld", "requester": "U0REQ", "title": "Once", "needed_by": needed_by()}
    # Slack carries out the first completeSuccess but its answer is lost (a 500 after the effect).
    slack.fail_next("functions.completeSuccess", status=500, after_effect=True)
    run_step(app, slack, inputs, execution=execution)
    run_step(app, slack, inputs, execution=execution)  # Slack's retry of the same delivery
    wait_until(lambda: slack.calls_to("functions.completeSuccess"), what="a completion")
    # The worker's next passes, later: the step is due again after its backoff, and is answered for good.
    later = Services.clock()
    for minutes in (2, 5, 10):
        services.dispatcher.run_once(now=later + timedelta(minutes=minutes))
    with services.db.session() as s:
        [step] = s.scalars(select(WorkflowStep)).all()
        assert step.finished_at is not None and step.token is None  # the secret is not kept after the end
    assert len(gitlab.issues()) == 1 and len(requests_of(services)) == 1
    assert slack.executions[execution[0]]["state"] == "completed"
    calls = slack.calls_to("functions.completeSuccess")
    assert len(calls) == 2  # the retry met "execution_not_in_running_state": done, nothing sent a third time
    assert calls[1].response["error"] == "execution_not_in_running_state"


def test_a_completion_with_another_token_is_refused_by_the_stand_in(slack):
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError

    execution_id, _token = slack.start_function()
    client = WebClient(token="xoxb-test-token", base_url=slack.url)
    with pytest.raises(SlackApiError) as refused:
        client.functions_completeSuccess(function_execution_id=execution_id, outputs={"request_id": "1"})
    assert refused.value.response["error"] == "invalid_auth"


def test_a_request_gitlab_refuses_ends_the_step_with_an_error_saying_so(app, slack, gitlab, services):
    gitlab.fail_next(CREATE, status=400, body={"message": {"title": ["is too long"]}})
    inputs = {"support_model": "ask-ld", "requester": "U0REQ", "title": "Refused", "needed_by": needed_by()}
    execution_id, _token, _ = run_step(app, slack, inputs)
    done = ended(slack, execution_id)
    assert done["state"] == "failed"
    assert "could not be filed in GitLab" in done["error"] and "too long" in done["error"]
    assert gitlab.issues() == []
