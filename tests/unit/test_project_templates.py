"""The cache of the project's description templates: read at most once per TTL, a GitLab failure is the shipped one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.catalog import load_catalog
from bot.gateways.gitlab import GitLabRejected, GitLabUnavailable
from bot.services.project_templates import FAILED_TTL, TTL, ProjectTemplates, gitlab_name, template_names

T0 = datetime(2027, 1, 6, 9, 0, tzinfo=UTC)


class Reader:
    def __init__(self, answers: dict[str, str | Exception | None]):
        self.answers = answers
        self.asked: list[str] = []

    def __call__(self, name: str) -> str | None:
        self.asked.append(name)
        answer = self.answers.get(name)
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_gitlab_names_are_the_shipped_file_names_without_their_suffix():
    catalog = load_catalog()
    assert gitlab_name("new_pathway.md.j2") == "new_pathway"
    assert template_names(catalog.model("new-pathway")) == ["new_pathway"]
    kits = template_names(catalog.model("upload"))
    assert "creator_kit_smartcard" in kits and "creator_kit_group" in kits and len(kits) == 6


def test_a_template_is_read_once_per_ttl_and_again_after_it():
    read = Reader({"new_pathway": "team text"})
    templates = ProjectTemplates(read)
    assert templates.text("new_pathway.md.j2", now=T0) == "team text"
    assert templates.text("new_pathway.md.j2", now=T0 + TTL - timedelta(seconds=1)) == "team text"
    assert read.asked == ["new_pathway"]
    read.answers["new_pathway"] = "edited by the team"
    assert templates.text("new_pathway.md.j2", now=T0 + TTL) == "edited by the team"
    assert read.asked == ["new_pathway"] * 2


def test_a_missing_template_is_remembered_too():
    read = Reader({})
    templates = ProjectTemplates(read)
    assert templates.text("live_learning.md.j2", now=T0) is None
    assert templates.text("live_learning.md.j2", now=T0 + timedelta(minutes=4)) is None
    assert read.asked == ["live_learning"]


@pytest.mark.parametrize("error", [GitLabUnavailable("read issue template: GitLab answered 500", status=500),
                                   GitLabUnavailable("read issue template: GitLab did not answer (ReadTimeout)"),
                                   GitLabRejected("read issue template: GitLab answered 403: Forbidden", 403)])
def test_a_template_gitlab_cannot_serve_is_the_shipped_one_and_asked_for_again_soon(error):
    read = Reader({"new_pathway": error})
    templates = ProjectTemplates(read)
    found = templates.lookup("new_pathway", now=T0)
    assert found.text is None and found.problem == str(error)
    assert templates.text("new_pathway.md.j2", now=T0 + FAILED_TTL - timedelta(seconds=1)) is None
    assert read.asked == ["new_pathway"]
    read.answers["new_pathway"] = "team text"
    assert templates.text("new_pathway.md.j2", now=T0 + FAILED_TTL) == "team text"


def test_a_clock_moved_back_reads_again():
    read = Reader({"new_pathway": "team text"})
    templates = ProjectTemplates(read)
    templates.text("new_pathway.md.j2", now=T0)
    templates.text("new_pathway.md.j2", now=T0 - timedelta(minutes=1))
    assert len(read.asked) == 2
