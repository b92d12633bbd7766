"""Every callback_id and action_id learnbot uses, in one place."""

from enum import StrEnum


class Callback(StrEnum):
    SUBMIT_REQUEST = "learn.submit"
    CHANGE_DATE = "learn.change_date"  # private_metadata: the request id


class Action(StrEnum):
    START_REQUEST = "learn.start"  # value: the support model's key; "learn.start:<key>" where several share a block
    FIELD_CHANGED = "learn.field_changed"  # a select that shows or hides other fields
    OPEN_ISSUE = "learn.open_issue"  # a link button; acknowledged and nothing else
    REMINDER_DONE = "learn.reminder.done"  # value: the reminder id
    REMINDER_SNOOZE_DAY = "learn.reminder.snooze_day"
    REMINDER_SNOOZE_WEEK = "learn.reminder.snooze_week"
    REQUEST_CHANGE_DATE = "learn.request.change_date"  # value: the request id
    REQUEST_CLOSE = "learn.request.close"  # value: the request id


COMMAND = "/learn"
