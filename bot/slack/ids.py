"""Every callback_id and action_id learnbot uses, in one place."""

from enum import StrEnum


class Callback(StrEnum):
    SUBMIT_REQUEST = "learn.submit"


class Action(StrEnum):
    START_REQUEST = "learn.start"  # value: the support model's key
    FIELD_CHANGED = "learn.field_changed"  # a select that shows or hides other fields
    OPEN_ISSUE = "learn.open_issue"  # a link button; acknowledged and nothing else


COMMAND = "/learn"
