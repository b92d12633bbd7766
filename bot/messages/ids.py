"""Every callback_id and action_id learnbot uses, in one place."""

from enum import StrEnum


class Callback(StrEnum):
    SUBMIT_REQUEST = "learn.submit"
    CHANGE_DATE = "learn.change_date"  # private_metadata: the request id
    DECIDE = "learn.decide"  # private_metadata: {"request", "version", "verb"}
    REPLY = "learn.decide.reply"  # private_metadata: {"request", "version"}
    SETTINGS = "learn.settings"  # /learn settings: country, reminder hour, pause
    FROM_MESSAGE = "learn.from_message"  # the message shortcut "Send to L&D"
    NEW_REQUEST = "learn.new_request"  # the global shortcut "New L&D request"
    CHOOSE_MODEL = "learn.choose_model"  # the chooser modal both shortcuts open; private_metadata: source id
    FOLLOW_UP = "learn.follow_up"  # the live-session follow-up form; private_metadata: the reminder id


class Action(StrEnum):
    START_REQUEST = "learn.start"  # value: the support model's key; "learn.start:<key>" where several share a block
    FIELD_CHANGED = "learn.field_changed"  # a select that shows or hides other fields
    OPEN_ISSUE = "learn.open_issue"  # a link button; acknowledged and nothing else
    REMINDER_DONE = "learn.reminder.done"  # value: the reminder id
    REMINDER_SNOOZE_DAY = "learn.reminder.snooze_day"
    REMINDER_SNOOZE_WEEK = "learn.reminder.snooze_week"
    REQUEST_CHANGE_DATE = "learn.request.change_date"  # value: the request id
    REQUEST_CLOSE = "learn.request.close"  # value: the request id
    # The deciders' buttons; value: "<request id>:<decision version the decider saw>".
    DECIDE_ACCEPT = "learn.decide.accept"
    DECIDE_WAITLIST = "learn.decide.waitlist"
    DECIDE_DECLINE = "learn.decide.decline"
    DECIDE_ASK = "learn.decide.ask"
    DECIDE_APPROVE = "learn.decide.approve"
    DECIDE_REQUEST_CHANGES = "learn.decide.request_changes"
    DECISION_REPLY = "learn.decide.reply"  # the requester answers a question; value as above
    LINK_SIMILAR = "learn.decide.link_similar"  # the deciders' card: link the similar requests' issues; value: id
    MODEL_CHOSEN = "learn.model_chosen"  # the chooser's select: the modal becomes that model's form
    FOLLOW_UP_OPEN = "learn.follow_up.open"  # value: the reminder id; opens the follow-up form
    REVIEW_ACCURATE = "learn.review.accurate"  # evergreen review buttons; value: the reminder id
    REVIEW_UPDATE = "learn.review.update"
    REVIEW_RETIRE = "learn.review.retire"
    STEP_OUT = "learn.named.step_out"  # someone named as host or co-owner steps out; value: the request id
    # After launch (§16); value: the row id. "learn.outcome:<answer>" and "learn.rate:<1-5>", one per button.
    OUTCOME_ANSWER = "learn.outcome"
    SATISFACTION_RATE = "learn.rate"
    WORKFLOW_FORM = "learn.workflow.form"  # value: the workflow step's id; opens the model's form, pre-filled


COMMAND = "/learn"

# Row ids and versions are the database's INTEGER (PostgreSQL's int4): nothing larger is ever stored.
STORED_INT_MAX = 2**31 - 1


def stored_int(value: object) -> int | None:
    """A row id or version that learnbot put in a button's value or a modal's metadata (an int, or its
    decimal digits); None for anything else, so that a forged or garbled one finds nothing rather than
    overflowing the database's integer."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 10:
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= STORED_INT_MAX:
        return value
    return None
