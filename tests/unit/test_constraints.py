"""constraints.txt pins what CI installed and tested, and every pin satisfies pyproject.toml's floors
(issue 15, point 5): a fresh clone installs exactly that with `pip install -c constraints.txt -e '.[test]'`."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def pins() -> dict[str, Version]:
    found = {}
    for raw in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)", line)
        assert m, f"constraints.txt: {raw!r} is not an exact pin (name==version)"
        found[canonicalize_name(m.group(1))] = Version(m.group(2))
    return found


REQUIREMENTS = [Requirement(r) for r in PROJECT["dependencies"] + PROJECT["optional-dependencies"]["test"]]


@pytest.mark.parametrize("requirement", REQUIREMENTS, ids=str)
def test_every_dependency_is_pinned_within_its_range(requirement):
    pinned = pins().get(canonicalize_name(requirement.name))
    assert pinned is not None, f"{requirement.name} is a dependency but constraints.txt does not pin it"
    assert requirement.specifier.contains(pinned, prereleases=True), (
        f"constraints.txt pins {requirement.name}=={pinned}, outside pyproject.toml's {requirement.specifier}")


def test_learnbot_itself_is_not_pinned():
    assert canonicalize_name(PROJECT["name"]) not in pins()


@pytest.mark.parametrize("name,fixed", [("jinja2", "3.1.6"), ("waitress", "3.0.1"), ("werkzeug", "3.1.6"),
                                        ("requests", "2.33"), ("flask", "3.1.1")])
def test_floors_exclude_the_releases_with_known_vulnerabilities(name, fixed):
    requirement = next(r for r in REQUIREMENTS if canonicalize_name(r.name) == name)
    release = Version(fixed).release
    below = (*release[:-1], release[-1] - 1)
    assert not requirement.specifier.contains(".".join(map(str, below)))
    assert requirement.specifier.contains(fixed)


def test_ci_installs_from_the_constraints():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert re.search(r"pip install .*-c constraints\.txt -e '\.\[test\]'", ci)
