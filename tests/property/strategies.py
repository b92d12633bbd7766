"""Generators for the property suite: arbitrary JSON, values that have broken learnbot before, and
realistic payloads with a few of their values removed or replaced ("nearly right" is what finds bugs)."""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from typing import Any

from hypothesis import strategies as st


def examples(n: int) -> int:
    """A test's share of the budget: `n` in CI; LEARNBOT_FUZZ_SCALE=100 for a long campaign by hand."""
    return n * max(1, int(os.environ.get("LEARNBOT_FUZZ_SCALE", "1")))


# Values that once crashed something, or sit on a boundary: ids past the database's integer, floats
# that int() cannot take, metadata that is not an object, deep nesting, surrogates, mentions, quick actions.
TRICKY_TEXT = (
    "", " ", "0", "-1", "1", "2147483647", "2147483648", "99999999999999999999", "1e400", "1:1", "1:-1", "x:y",
    "[", "{", "null", "[]", "{}", '{"model": "upload"}', '{"model": 5}', '{"request": 1e400, "version": 1}',
    '{"request": "1", "version": "1", "verb": "accept"}', '{"request": 99999999999999, "version": 0}',
    '{"reminder": 1e400}', '{"source": -1}', '{"source": 1e400}', "[" * 3000, "U0REQ", "U0ADMIN", "W1", "@all",
    "@all@all", "é@all", "`@all", "/close", "/\rclose", "\r\n/close", "\ud800", "é", "\x00", "<!channel>",
    "<@U0ADMIN>", "yes", "no", "2030-01-01", "9999-12-31", "0001-01-01", "2030-02-30", "1893456000",
    "99999999999999999", "https://handbook.gitlab.com/x", "https://[::1/x", "https://ex\u2100ample.com/",
    "upload", "live-learning", "new-pathway", "mine", "settings", "help",
)
KEYS = ("type", "user", "id", "value", "actions", "action_id", "view", "state", "values", "private_metadata",
        "callback_id", "trigger_id", "team", "channel", "container", "event", "selected_option", "selected_options",
        "message", "text", "ts", "object_kind", "object_attributes", "project", "iid", "changes", "labels",
        "previous", "current", "title", "note", "noteable_type", "issue", "authorizations", "enterprise")

scalars = (st.none() | st.booleans() | st.integers() | st.integers(min_value=-(2**70), max_value=2**70)
           | st.floats() | st.text(max_size=30) | st.sampled_from(TRICKY_TEXT))
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=10,
)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if prefix:
        yield prefix
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            yield from _paths(value, (*prefix, index))


def _at(doc: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        doc = doc[step]
    return doc


@st.composite
def mutated(draw: st.DrawFn, template: Any, most: int = 3) -> Any:
    """`template` with up to `most` values deleted, replaced by arbitrary JSON, or given an extra key."""
    doc = copy.deepcopy(template)
    for _ in range(draw(st.integers(min_value=0, max_value=most))):
        paths = list(_paths(doc))
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent, key = _at(doc, path[:-1]), path[-1]
        how = draw(st.sampled_from(("delete", "replace", "replace", "add")))
        if how == "delete" and isinstance(parent, dict):
            del parent[key]
        elif how == "add" and isinstance(parent[key], dict):
            parent[key][draw(st.sampled_from(KEYS))] = draw(json_values)
        else:
            parent[key] = draw(json_values)
    return doc
