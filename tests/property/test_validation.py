"""Form validation on answers of any type: typed answers or an inline error per field, never an exception."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.catalog import load_catalog
from bot.config import DEFAULT_HANDBOOK_PREFIXES
from bot.domain.after_launch import check_follow_up
from bot.domain.settings import check_settings
from bot.domain.validation import check_answers
from tests.property.strategies import examples, json_values, mutated
from tests.samples import RAW

CATALOG = load_catalog()
TODAY = date(2027, 1, 20)
NOW = datetime(2027, 1, 20, 10, 0, tzinfo=UTC)
FIELD_IDS = sorted({f.id for m in CATALOG.models for f in m.fields} | {"attendance", "recording_url", "handbook_url",
                                                                        "notes", "country", "hour", "paused"})


PYTHON_SPEAK = ("object", "Invalid IPv6", "NoneType", "Error", "invalid literal", "iterable", "argument")


def _is_a_sentence(message: object) -> bool:
    # A person reads it inline under the field: a sentence, not a Python error ("'int' object has no attribute").
    if not isinstance(message, str) or not 0 < len(message) < 500 or " " not in message.strip():
        return False
    ours = re.sub(r"“.*?”", "", message, flags=re.DOTALL)  # what the person typed, quoted back, is theirs
    return not any(word in ours for word in PYTHON_SPEAK)


def raw_answers(key: str) -> st.SearchStrategy[dict]:
    """A model's sample answers with some changed (to anything JSON holds), plus answers of any type by id."""
    return st.tuples(mutated(RAW[key], most=4), st.dictionaries(st.sampled_from(FIELD_IDS), json_values, max_size=4)
                     ).map(lambda pair: {**pair[0], **pair[1]} if isinstance(pair[0], dict) else pair[1])


@settings(max_examples=examples(200))
@given(st.sampled_from(CATALOG.catalog.keys).flatmap(lambda key: st.tuples(st.just(key), raw_answers(key))))
def test_every_model_answers_typed_or_refused_field_by_field(case):
    key, raw = case
    model = CATALOG.model(key)
    checked = check_answers(model, raw, today=TODAY, now=NOW, handbook_prefixes=DEFAULT_HANDBOOK_PREFIXES)
    field_ids = {f.id for f in model.fields}
    assert set(checked.errors) <= field_ids and set(checked.answers) <= field_ids
    assert not set(checked.errors) & set(checked.answers)
    for field_id, message in checked.errors.items():
        assert _is_a_sentence(message), (field_id, message)


@settings(max_examples=examples(150))
@given(st.dictionaries(st.sampled_from(FIELD_IDS), json_values, max_size=6), st.booleans())
def test_the_follow_up_form_and_the_settings_form_never_raise(raw, recorded):
    follow_up = check_follow_up(raw, recorded=recorded, handbook_prefixes=DEFAULT_HANDBOOK_PREFIXES, today=TODAY,
                                now=NOW)
    settings_ = check_settings(raw, countries={"DE", "US", "TH"}, today=TODAY)
    for message in [*follow_up.errors.values(), *settings_.errors.values()]:
        assert _is_a_sentence(message), message
