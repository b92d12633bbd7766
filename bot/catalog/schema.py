"""The catalogue's types: support models, their fields, options, plans and triage, validated by pydantic."""

from __future__ import annotations

from collections.abc import Mapping
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SHIPPED_CATALOG = Path(__file__).with_name("catalog.yml")
RESERVED_KEYS = frozenset({"help", "mine", "settings"})

FieldType = Literal[
    "text", "long_text", "url", "urls", "date", "datetime", "select", "multi_select",
    "user", "users", "number", "yes_no",
]
CHOICE_TYPES = frozenset({"select", "multi_select"})
TEXT_TYPES = frozenset({"text", "long_text", "url", "urls"})

# Slack's limits for the pieces a catalogue controls (Block Kit reference).
SLACK_MODAL_TITLE_MAX = 24
SLACK_LABEL_MAX = 2000
SLACK_HINT_MAX = 2000
SLACK_INPUT_MAX = 3000
SLACK_OPTION_TEXT_MAX = 75
SLACK_OPTIONS_MAX = 100
# How many people one `users` field may name when the catalogue does not say (each gets the reminders).
DEFAULT_MAX_PEOPLE = 10
# Outcome check-ins: how long after launch the requester is asked whether it made a difference.
DEFAULT_OUTCOME_AFTER_DAYS = (30, 90)
OUTCOME_AFTER_DAYS_MAX = 730  # two years: past that, nobody remembers what the request was for
OUTCOME_CHECKINS_MAX = 6
# The Workflow Builder step's free inputs (manifest.yml, function request_ld_support) and the field types each
# may fill; `workflow_inputs` maps them onto a model's fields (bot/domain/workflow.py).
WORKFLOW_INPUTS: dict[str, frozenset[str]] = {
    "title": frozenset({"text", "long_text"}),
    "details": frozenset({"text", "long_text"}),
    "needed_by": frozenset({"date"}),
}


class CatalogError(Exception):
    """The catalogue file or one of its templates is broken; the message says where."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Option(_Strict):
    value: str = Field(min_length=1, max_length=75)
    label: str = Field(min_length=1)
    description: str | None = None
    team: str | None = None
    url: str | None = None
    labels: tuple[str, ...] = ()
    template: str | None = None
    # An approving team's own deciders (§3, §12): its Slack user group, its channel, its capacity.
    usergroup: str | None = Field(default=None, pattern=r"^S[A-Z0-9]{2,}$")
    channel: str | None = Field(default=None, pattern=r"^[CG][A-Z0-9]{2,}$")
    capacity: int | None = Field(default=None, ge=1)


class FieldSpec(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=60)
    type: FieldType
    label: str = Field(min_length=1, max_length=SLACK_LABEL_MAX)
    required: bool = True
    hint: str | None = Field(default=None, max_length=SLACK_HINT_MAX)
    placeholder: str | None = Field(default=None, max_length=150)
    max_length: int | None = Field(default=None, ge=1, le=SLACK_INPUT_MAX)
    min_items: int | None = Field(default=None, ge=1)
    min_value: int | None = None
    max_value: int | None = None
    options: tuple[Option, ...] = ()
    handbook: bool = False
    not_past: bool = False
    prefill_requester: bool = False
    # For `users`: how many people the requester may name (each of them gets every reminder).
    max_people: int | None = Field(default=None, ge=1, le=100)
    when: dict[str, tuple[str, ...]] | None = None

    @model_validator(mode="after")
    def _shape(self) -> FieldSpec:
        if self.type in CHOICE_TYPES and not self.options:
            raise ValueError(f"field {self.id!r} is a {self.type} and needs options")
        if self.type not in CHOICE_TYPES and self.options:
            raise ValueError(f"field {self.id!r} is a {self.type}; only select fields take options")
        if len(self.options) > SLACK_OPTIONS_MAX:
            raise ValueError(f"field {self.id!r} has more than {SLACK_OPTIONS_MAX} options")
        long = [o.value for o in self.options if len(o.label) > SLACK_OPTION_TEXT_MAX]
        if long:
            raise ValueError(f"field {self.id!r}: option labels over {SLACK_OPTION_TEXT_MAX} chars: {long}")
        if self.handbook and self.type not in ("url", "urls"):
            raise ValueError(f"field {self.id!r}: 'handbook' applies to url fields only")
        if self.prefill_requester and self.type != "users":
            raise ValueError(f"field {self.id!r}: 'prefill_requester' applies to users fields only")
        if self.not_past and self.type not in ("date", "datetime"):
            raise ValueError(f"field {self.id!r}: 'not_past' applies to date fields only")
        if self.max_people is not None and self.type != "users":
            raise ValueError(f"field {self.id!r}: 'max_people' applies to users fields only")
        return self

    @property
    def people_limit(self) -> int:
        """How many people a `users` field may name (the catalogue's max_people, else 10)."""
        return self.max_people if self.max_people is not None else DEFAULT_MAX_PEOPLE

    def option(self, value: str) -> Option | None:
        return next((o for o in self.options if o.value == value), None)


class MilestoneSpec(_Strict):
    key: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    title: str = Field(min_length=1, max_length=200)
    days: int = 0
    weeks: int = 0
    business_days: int = 0
    done_at_submission: bool = False
    # After the session: the step's reminder carries a short form (attendance, recording, notes);
    # submitting it ticks the step and notes the answers on the issue.
    follow_up: bool = False
    # One more reminder this many days after the first, if the step is still open.
    nudge_after_days: int | None = Field(default=None, ge=1, le=60)


class Interval(_Strict):
    """A span of time for evergreen reviews: months, weeks and days (e.g. {months: 6})."""

    months: int = Field(default=0, ge=0, le=60)
    weeks: int = Field(default=0, ge=0, le=260)
    days: int = Field(default=0, ge=0, le=1830)

    @model_validator(mode="after")
    def _not_empty(self) -> Interval:
        if not (self.months or self.weeks or self.days):
            raise ValueError("review_after needs months, weeks or days")
        return self

    def describe(self) -> str:
        parts = [f"{n} {unit}{'s' if n != 1 else ''}" for n, unit in
                 ((self.months, "month"), (self.weeks, "week"), (self.days, "day")) if n]
        return " ".join(parts)


class PlanSpec(_Strict):
    anchor: str
    milestones: tuple[MilestoneSpec, ...] = ()


class TriageBand(_Strict):
    min: float
    label: str


class TriageSpec(_Strict):
    score: str
    weight: str | None = None
    bands: tuple[TriageBand, ...] = ()


class InviteSpec(_Strict):
    """A live session's calendar invite (bot/services/invites.py): which answers give its time, length and title."""

    starts: str  # a datetime field
    minutes: str  # a select field whose option values are minutes
    summary: str  # a text field


class SupportModel(_Strict):
    key: str = Field(pattern=r"^[a-z][a-z0-9-]*$", max_length=40)
    name: str
    modal_title: str = Field(max_length=SLACK_MODAL_TITLE_MAX)
    emoji: str = ":books:"
    summary: str
    template: str | None = None
    template_field: str | None = None
    issue_title: str
    labels: tuple[str, ...] = ()
    co_owner_fields: tuple[str, ...] = ()
    triage: TriageSpec | None = None
    fields: tuple[FieldSpec, ...]
    plan: PlanSpec | None = None
    # Decisions (§12): False = accepted on filing and only announced; undecided after
    # `decide_within` days, the request is raised once to its deciders.
    needs_decision: bool = True
    decide_within: int | None = Field(default=None, ge=1)
    # The message shortcut: which free-text field a message's text pre-fills (default: the first
    # long_text field), and words that put this model first in the chooser when a message says them.
    message_field: str | None = None
    keywords: tuple[str, ...] = ()
    # Evergreen review: the owners are asked, this long after launch (or, without a plan, after the
    # issue is closed as published), whether the content is still accurate; again after each "yes".
    review_after: Interval | None = None
    review_update_model: str = "content-review"  # "Needs an update" opens this model's form, pre-filled
    # Outcomes (§16): the optional long_text field that asks "what will be different if this works, and how
    # will you know?" (a model that makes something new names it); its requester is asked this many days
    # after launch whether it happened.
    outcome_field: str | None = None
    outcome_after_days: tuple[int, ...] = DEFAULT_OUTCOME_AFTER_DAYS
    # The Workflow Builder step (§17): which field each of its inputs (title, details, needed_by) fills.
    workflow_inputs: dict[str, str] = Field(default_factory=dict)
    # Calendar invites (§17): the hosts (co_owner_fields, else the requester) get an .ics in their DM.
    invite: InviteSpec | None = None

    @field_validator("outcome_after_days")
    @classmethod
    def _outcome_days(cls, days: tuple[int, ...]) -> tuple[int, ...]:
        if not days or len(days) > OUTCOME_CHECKINS_MAX:
            raise ValueError(f"outcome_after_days needs 1 to {OUTCOME_CHECKINS_MAX} numbers of days")
        if any(d < 1 or d > OUTCOME_AFTER_DAYS_MAX for d in days):
            raise ValueError(f"outcome_after_days: each must be 1 to {OUTCOME_AFTER_DAYS_MAX} days after launch")
        if any(b <= a for a, b in pairwise(days)):
            raise ValueError("outcome_after_days must increase (e.g. [30, 90])")
        return days

    @field_validator("key")
    @classmethod
    def _not_reserved(cls, key: str) -> str:
        if key in RESERVED_KEYS:
            raise ValueError(f"{key!r} is a /learn sub-command and cannot name a model")
        return key

    @model_validator(mode="after")
    def _references(self) -> SupportModel:
        ids = [f.id for f in self.fields]
        dupes = {i for i in ids if ids.count(i) > 1}
        if dupes:
            raise ValueError(f"duplicate field ids {sorted(dupes)}")
        by_id = {f.id: f for f in self.fields}
        self._check_template(by_id)
        self._check_when(by_id)
        for name in self.co_owner_fields:
            if name not in by_id or by_id[name].type not in ("user", "users"):
                raise ValueError(f"co_owner_fields: {name!r} is not a user field")
        self._check_plan(by_id)
        self._check_invite(by_id)
        if self.message_field is not None:
            target = by_id.get(self.message_field)
            if target is None or target.type not in ("text", "long_text"):
                raise ValueError(f"message_field {self.message_field!r} must be a text or long_text field")
        if self.outcome_field is not None:
            target = by_id.get(self.outcome_field)
            if target is None or target.type != "long_text" or target.required:
                raise ValueError(f"outcome_field {self.outcome_field!r} must be an optional long_text field")
        self._check_workflow_inputs(by_id)
        if self.triage is not None:
            for needed in ("business_impact",):
                if needed not in by_id:
                    raise ValueError(f"triage needs a {needed!r} field")
        return self

    def _check_template(self, by_id: Mapping[str, FieldSpec]) -> None:
        if (self.template is None) == (self.template_field is None):
            raise ValueError("give exactly one of 'template' or 'template_field'")
        if self.template_field is not None:
            f = by_id.get(self.template_field)
            if f is None or f.type != "select" or any(o.template is None for o in f.options):
                raise ValueError(f"template_field {self.template_field!r} must be a select whose options "
                                 "each name a template")

    def _check_workflow_inputs(self, by_id: Mapping[str, FieldSpec]) -> None:
        for name, field_id in self.workflow_inputs.items():
            types = WORKFLOW_INPUTS.get(name)
            if types is None:
                raise ValueError(f"workflow_inputs: {name!r} is not an input of the workflow step "
                                 f"(one of {sorted(WORKFLOW_INPUTS)})")
            target = by_id.get(field_id)
            if target is None or target.type not in types:
                raise ValueError(f"workflow_inputs: {name} fills {field_id!r}, which must be a "
                                 f"{' or '.join(sorted(types))} field of this model")

    def _check_when(self, by_id: Mapping[str, FieldSpec]) -> None:
        for f in self.fields:
            for other, values in (f.when or {}).items():
                target = by_id.get(other)
                if target is None or target.type != "select":
                    raise ValueError(f"field {f.id!r}: 'when' refers to {other!r}, which is not a select field")
                unknown = [v for v in values if target.option(v) is None]
                if unknown:
                    raise ValueError(f"field {f.id!r}: 'when' names unknown {other} values {unknown}")

    def _check_plan(self, by_id: Mapping[str, FieldSpec]) -> None:
        if self.plan is None:
            return
        anchor = by_id.get(self.plan.anchor)
        if anchor is None or anchor.type not in ("date", "datetime") or not anchor.required:
            raise ValueError(f"plan anchor {self.plan.anchor!r} must be a required date or datetime field")
        keys = [m.key for m in self.plan.milestones]
        if len(keys) != len(set(keys)):
            raise ValueError("duplicate milestone keys in plan")
        if "evergreen-review" in keys:
            raise ValueError("'evergreen-review' is learnbot's own step (set review_after instead)")

    def _check_invite(self, by_id: Mapping[str, FieldSpec]) -> None:
        if self.invite is None:
            return
        starts, minutes, summary = (by_id.get(x) for x in (self.invite.starts, self.invite.minutes,
                                                            self.invite.summary))
        if starts is None or starts.type != "datetime" or not starts.required:
            raise ValueError(f"invite.starts {self.invite.starts!r} must be a required datetime field")
        if (minutes is None or minutes.type != "select" or not minutes.required
                or not all(o.value.isdigit() and 0 < int(o.value) <= 24 * 60 for o in minutes.options)):
            raise ValueError(f"invite.minutes {self.invite.minutes!r} must be a required select of minutes")
        if summary is None or summary.type != "text" or not summary.required:
            raise ValueError(f"invite.summary {self.invite.summary!r} must be a required text field")

    def prefill_field(self) -> FieldSpec | None:
        """The field a message's text goes into when the form is opened from the message shortcut."""
        if self.message_field is not None:
            return self.field(self.message_field)
        return next((f for f in self.fields if f.type == "long_text"), None)

    def field(self, field_id: str) -> FieldSpec:
        return next(f for f in self.fields if f.id == field_id)

    def visible_fields(self, selected: Mapping[str, Any]) -> list[FieldSpec]:
        """Fields shown for the current answers of the select fields that `when` depends on."""
        return [
            f for f in self.fields
            if not f.when or all(selected.get(k) in values for k, values in f.when.items())
        ]

    def template_for(self, answers: Mapping[str, Any]) -> str:
        if self.template is not None:
            return self.template
        assert self.template_field is not None
        option = self.field(self.template_field).option(str(answers.get(self.template_field)))
        if option is None or option.template is None:
            chosen = answers.get(self.template_field)
            raise CatalogError(f"{self.key}: no template for {self.template_field}={chosen!r}")
        return option.template


class Catalog(_Strict):
    version: Literal[1]
    default_labels: tuple[str, ...] = ()
    models: tuple[SupportModel, ...] = Field(min_length=1)
    # YAML anchors keep these lists in one place; the models copy them into their fields.
    contributor_audiences: tuple[Option, ...] = ()
    handbook_topics: tuple[Option, ...] = ()
    business_impact: tuple[Option, ...] = ()
    triage: TriageSpec | None = None
    outcome_question: FieldSpec | None = None  # the outcome field, once, for the models that ask it
    # How many accepted, open requests the L&D team carries at once (None: no limit shown).
    capacity: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _unique(self) -> Catalog:
        keys = [m.key for m in self.models]
        dupes = {k for k in keys if keys.count(k) > 1}
        if dupes:
            raise ValueError(f"duplicate model keys {sorted(dupes)}")
        for m in self.models:
            if m.review_after is not None and m.review_update_model not in keys:
                raise ValueError(f"{m.key}: review_update_model {m.review_update_model!r} is not a model here")
        return self

    def model(self, key: str) -> SupportModel | None:
        return next((m for m in self.models if m.key == key), None)

    @property
    def keys(self) -> list[str]:
        return [m.key for m in self.models]
