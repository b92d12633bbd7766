"""The Workflow Builder step's inputs as a model's answers (bot/domain/workflow.py) and the catalogue's mapping."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bot.catalog import load_catalog
from bot.catalog.schema import SupportModel
from bot.domain import workflow as rules

CATALOG = load_catalog()


def model(key: str) -> SupportModel:
    found = CATALOG.catalog.model(key)
    assert found is not None
    return found


def test_every_shipped_model_maps_the_title_onto_a_field():
    assert all("title" in m.workflow_inputs for m in CATALOG.catalog.models)


def test_inputs_fill_the_mapped_fields_and_a_host_field_holds_the_requester():
    raw = rules.answers_from(model("new-content"), {"title": "  MR etiquette ", "details": "Kindly",
                                                    "needed_by": "2031-02-03", "other": "x"}, requester="U0REQ")
    assert raw == {"topic": "MR etiquette", "outcomes": "Kindly", "needed_by": "2031-02-03"}
    live = rules.answers_from(model("live-learning"), {"title": "Coaching"}, requester="U0REQ")
    assert live == {"title": "Coaching", "hosts": ["U0REQ"]}


def test_text_is_cut_to_the_field_and_a_unix_time_is_a_date():
    raw = rules.prefill(model("content-review"), {"title": "x" * 500, "needed_by": 1_900_000_000})
    assert raw["title"] == "x" * 150 and raw["needed_by"] == "2030-03-17"
    assert rules.prefill(model("content-review"), {"title": ["not", "text"], "needed_by": True}) == {}


def test_what_completeError_says_names_the_problem_on_one_bounded_line():
    text = rules.unknown_model("yoga\nretreat", CATALOG.catalog.keys)
    assert "yoga retreat" in text and "content-review" in text and "\n" not in text
    assert len(rules.not_a_person("U" + "X" * 900, "is a bot")) <= rules.ERROR_MAX
    assert rules.looks_like_user("U0REQ") and rules.looks_like_user("W0ENT") and not rules.looks_like_user("B0BOT")


def test_outputs_carry_the_first_date_only_when_there_is_a_plan():
    from datetime import date

    assert rules.outputs(request_id=7, issue_url="https://g/1", first_due=date(2031, 1, 2)) == {
        "request_id": "7", "issue_url": "https://g/1", "first_due": "2031-01-02"}
    assert "first_due" not in rules.outputs(request_id=7, issue_url="https://g/1", first_due=None)


@pytest.mark.parametrize(("mapping", "says"), [
    ({"budget": "title"}, "not an input"),
    ({"needed_by": "title"}, "date field"),
    ({"details": "nowhere"}, "nowhere"),
])
def test_a_mapping_the_catalogue_cannot_honour_is_refused(mapping, says):
    data = model("content-review").model_dump()
    data["workflow_inputs"] = mapping
    with pytest.raises(ValidationError, match=says):
        SupportModel.model_validate(data)
