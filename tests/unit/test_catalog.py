"""The catalogue is data an admin edits; a broken one fails at start with the place named."""

import shutil
from pathlib import Path

import pytest
import yaml

from bot.catalog import SHIPPED_CATALOG, CatalogError, load_catalog

SEED_AUDIENCES = {  # seed lxp-contribution-process.md, step 3
    "GitLab team members": ("L&D Team", "edcast-contribution-l&D"),
    "Customers": ("Professional Services", "edcast-contribution-professional-services"),
    "Partners": ("Partner Enablement", "edcast-contribution-partners"),
    "Sales team": ("Field Enablement", "edcast-contribution-field"),
    "Wider GitLab community": ("Community Relations Team", "edcast-contribution-community"),
}


def test_shipped_catalogue_has_the_six_support_models():
    catalog = load_catalog()
    assert catalog.catalog.keys == ["live-learning", "new-pathway", "upload", "external-content",
                                    "content-review", "new-content"]


def test_contributor_audiences_route_as_the_seed_says():
    upload = load_catalog().model("upload")
    field = upload.field("contributor_audience")
    assert {o.label: (o.team, o.labels[0]) for o in field.options} == SEED_AUDIENCES


def test_every_people_field_of_the_shipped_catalogue_is_capped():
    models = load_catalog().catalog.models
    fields = {(m.key, f.id): f.people_limit for m in models for f in m.fields if f.type == "users"}
    assert fields == {("live-learning", "hosts"): 10, ("new-pathway", "co_owners"): 10}


def test_upload_offers_the_six_creator_kits():
    kinds = [o.label for o in load_catalog().model("upload").field("content_type").options]
    assert kinds == ["SmartCard", "Pathway", "Journey", "Carousel", "Channel", "Group"]


def _copy(tmp_path: Path) -> Path:
    shutil.copytree(SHIPPED_CATALOG.parent / "templates", tmp_path / "templates")
    target = tmp_path / "catalog.yml"
    shutil.copy(SHIPPED_CATALOG, target)
    return target


def _edit(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_a_new_model_needs_no_python(tmp_path):
    path = _copy(tmp_path)
    (tmp_path / "templates" / "mentoring.md.j2").write_text("## Mentoring: {{ answers.topic }}\n")

    def add(data):
        data["models"].append({
            "key": "mentoring", "name": "Find a mentor", "modal_title": "Mentoring", "summary": "Get a mentor.",
            "template": "mentoring.md.j2", "issue_title": "Mentoring: {{ answers.topic }}",
            "fields": [{"id": "topic", "type": "text", "label": "Topic"}],
        })
    _edit(path, add)
    catalog = load_catalog(path)
    assert catalog.model("mentoring").name == "Find a mentor"
    assert catalog.render("mentoring.md.j2", {"answers": {"topic": "Git"}}) == "## Mentoring: Git\n"


@pytest.mark.parametrize("change,expected", [
    (lambda d: d["models"][1].update(template="missing.md.j2"), "models[new-pathway]: template 'missing.md.j2'"),
    (lambda d: d["models"][1]["plan"].update(anchor="title"), "must be a required date"),
    (lambda d: d["models"][0].update(modal_title="A title far longer than Slack allows"), "modal_title"),
    (lambda d: d["models"][2]["fields"][6].update(when={"content_type": ["video"]}), "unknown content_type values"),
    (lambda d: d["models"][0].update(key="help"), "sub-command"),
    (lambda d: d["models"][0]["triage"].update(score="answers.business_impact +"), "triage.score"),
    (lambda d: d["models"][1]["fields"][0].update(type="colour"), "models[new-pathway].fields[title].type"),
    (lambda d: d["models"][1]["fields"][0].update(max_people=3), "'max_people' applies to users fields only"),
    (lambda d: d["models"][0]["fields"][4].update(max_people=0), "max_people"),
])
def test_broken_catalogues_fail_with_the_place_named(tmp_path, change, expected):
    path = _copy(tmp_path)
    _edit(path, change)
    with pytest.raises(CatalogError) as err:
        load_catalog(path)
    assert expected in str(err.value)


def test_template_syntax_error_is_caught_at_load(tmp_path):
    path = _copy(tmp_path)
    (tmp_path / "templates" / "new_content.md.j2").write_text("{% if %}")
    with pytest.raises(CatalogError, match=r"new_content\.md\.j2"):
        load_catalog(path)


def test_templates_are_sandboxed():
    catalog = load_catalog()
    from jinja2.exceptions import SecurityError

    with pytest.raises(SecurityError):
        catalog.render_string("{{ answers.__class__.__mro__[1].__subclasses__() }}", {"answers": {}})


def test_not_yaml(tmp_path):
    bad = tmp_path / "catalog.yml"
    bad.write_text("models: [\n")
    with pytest.raises(CatalogError, match="not valid YAML"):
        load_catalog(bad)


def test_a_yaml_error_names_the_file_and_line(tmp_path):
    bad = tmp_path / "catalog.yml"
    bad.write_text("version: 1\nmodels:\n  - key: x\n    name: [unclosed\n    summary: y\n")
    with pytest.raises(CatalogError) as raised:
        load_catalog(bad)
    message = str(raised.value)
    assert f"{bad}:" in message and "<unicode string>" not in message
    line = int(message.split(f"{bad}:")[1].split(":")[0])
    assert line >= 4  # the unclosed list, or where PyYAML noticed


def test_every_template_of_the_shipped_catalogue_renders_with_sample_answers():
    from datetime import date

    from bot.services.issues import rehearse

    assert rehearse(load_catalog(), today=date(2026, 11, 26)) == []


def test_an_optional_field_left_empty_scores_as_none():
    # live-learning's OKR link is optional; its formula reads answers.okr_url. Before, a request without one
    # could not be scored (the requester was told "learnbot could not score this answer").
    from bot.domain.scoring import score_request

    catalog = load_catalog()
    model = catalog.model("live-learning")
    assert model is not None and model.triage is not None
    answers = {"business_impact": "high", "impacted_people": 100}
    result = score_request(model.triage, answers, catalog.expression, field_ids=[f.id for f in model.fields])
    assert result.score == 40 + 0 + 10
