"""Valid raw answers for every support model, as a modal would send them (shared by unit and e2e tests)."""

from datetime import UTC, datetime

SESSION = datetime(2027, 3, 10, 15, 0, tzinfo=UTC)

RAW = {
    "live-learning": {
        "title": "Introduction to Coaching", "learning_outcomes": "Ask open questions\nGive feedback",
        "starts_at": str(int(SESSION.timestamp())), "duration": "25", "hosts": ["U0HOST", "U0COHOST"],
        "audience": "global", "recorded": "yes", "business_impact": "medium",
        "okr_url": "https://gitlab.com/okrs/1", "impacted_people": "250",
    },
    "new-pathway": {
        "title": "Community Learning Pathway", "audience": ["team-members", "community"],
        "launch_date": "2027-03-03",
        "handbook_urls": "https://handbook.gitlab.com/handbook/marketing/developer-relations/\n"
                         "https://about.gitlab.com/handbook/company/strategy/",
        "existing_content": "none found", "objectives": "Understand the value of community\nEngage the community",
        "outline": "Introduction\nCommunity programs\nJoin us", "badge": "yes", "co_owners": ["U0COOWNER"],
    },
    "upload": {
        "content_type": "smartcard", "title": "Being an Ally", "contributor_audience": "partners", "topic": "dib",
        "handbook_urls": "https://about.gitlab.com/company/culture/inclusion/being-an-ally/",
        "description": "A short card on allyship", "level": "beginner", "tags": "dib, ally",
        "duration_minutes": "10",
    },
    "external-content": {
        "title": "Intro to Kubernetes", "provider": "Linux Foundation",
        "content_url": "https://training.linuxfoundation.org/k8s", "licence": "free", "cost": "none",
        "audience": ["team-members"], "why": "Fills the cloud-native gap",
    },
    "content-review": {
        "title": "Bias for async", "handbook_urls": "https://handbook.gitlab.com/handbook/company/culture/all-remote/",
        "review_focus": ["handbook-first", "async"], "needed_by": "2027-02-15", "notes": "",
    },
    "new-content": {
        "topic": "Merge request etiquette", "team": "Engineering", "audience": ["team-members"], "format": "pathway",
        "outcomes": "Review MRs kindly", "business_impact": "high", "okr_url": "https://gitlab.com/okrs/7",
        "impacted_people": "1200", "needed_by": "2027-02-01",
    },
}


def slack_state(raw: dict) -> dict:
    """Raw answers turned into a view's state.values, element by element, as Slack sends them."""
    from bot.catalog import load_catalog

    values: dict = {}
    catalog = load_catalog()
    for field_id, value in raw.items():
        field = next(f for m in catalog.models for f in m.fields if f.id == field_id)
        values[field_id] = {"value": _element(field.type, value)}
    return values


def _element(kind: str, value):
    match kind:
        case "select":
            return {"type": "static_select", "selected_option": {"value": value} if value else None}
        case "multi_select":
            return {"type": "multi_static_select", "selected_options": [{"value": v} for v in value or []]}
        case "yes_no":
            return {"type": "radio_buttons", "selected_option": {"value": value} if value else None}
        case "date":
            return {"type": "datepicker", "selected_date": value}
        case "datetime":
            return {"type": "datetimepicker", "selected_date_time": int(value) if value else None}
        case "users":
            return {"type": "multi_users_select", "selected_users": value or []}
        case "user":
            return {"type": "users_select", "selected_user": value}
        case "number":
            return {"type": "number_input", "value": value}
        case _:
            return {"type": "plain_text_input", "value": value}
