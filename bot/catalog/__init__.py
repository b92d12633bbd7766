"""The support-model catalogue: models, their fields, plans, labels and issue templates, as data.

`schema` holds the validated types; `loading` reads a catalogue file and compiles its templates.
"""

from bot.catalog.loading import LoadedCatalog, bullets, load_catalog
from bot.catalog.schema import (
    CHOICE_TYPES,
    RESERVED_KEYS,
    SHIPPED_CATALOG,
    SLACK_HINT_MAX,
    SLACK_INPUT_MAX,
    SLACK_LABEL_MAX,
    SLACK_MODAL_TITLE_MAX,
    SLACK_OPTION_TEXT_MAX,
    SLACK_OPTIONS_MAX,
    TEXT_TYPES,
    Catalog,
    CatalogError,
    FieldSpec,
    FieldType,
    Interval,
    MilestoneSpec,
    Option,
    PlanSpec,
    SupportModel,
    TriageBand,
    TriageSpec,
)

__all__ = [
    "CHOICE_TYPES", "RESERVED_KEYS", "SHIPPED_CATALOG", "SLACK_HINT_MAX", "SLACK_INPUT_MAX", "SLACK_LABEL_MAX",
    "SLACK_MODAL_TITLE_MAX", "SLACK_OPTIONS_MAX", "SLACK_OPTION_TEXT_MAX", "TEXT_TYPES", "Catalog", "CatalogError",
    "FieldSpec", "FieldType", "Interval", "LoadedCatalog", "MilestoneSpec", "Option", "PlanSpec", "SupportModel",
    "TriageBand", "TriageSpec", "bullets", "load_catalog",
]
