"""The /learn settings modal: where a person sets their holiday country, reminder hour and leave."""

from __future__ import annotations

from datetime import date

from bot.domain.safe_text import slack_escape
from bot.messages.ids import Callback
from bot.messages.kit import PLAIN_TEXT_TITLE_MAX, Block, context, plain, section


def settings_modal(*, zone: str | None, zone_country: str | None, sharing: tuple[str, ...], country: str | None,
                   hour: int | None, team_hour: int, paused_through: date | None) -> Block:
    where = (f"Your Slack time zone is *{slack_escape(zone)}*"
             + (f", so learnbot assumes *{zone_country}*" if zone_country else ", which belongs to no country")
             + (f" (the zone is also used in {', '.join(c for c in sharing if c != zone_country)})"
                if len(sharing) > 1 else "") + ".") if zone else "learnbot does not know your Slack time zone yet."
    country_el: Block = {"type": "plain_text_input", "action_id": "value", "max_length": 2,
                         "placeholder": plain(zone_country or "e.g. DE", 150)}
    if country:
        country_el["initial_value"] = country
    hours = [{"text": plain(f"The team's hour ({team_hour:02d}:00)", 75), "value": "default"}] + [
        {"text": plain(f"{h:02d}:00", 75), "value": str(h)} for h in range(24)]
    hour_el: Block = {"type": "static_select", "action_id": "value", "options": hours,
                      "initial_option": hours[0] if hour is None else hours[hour + 1]}
    paused_el: Block = {"type": "datepicker", "action_id": "value"}
    if paused_through is not None:
        paused_el["initial_date"] = paused_through.isoformat()
    return {
        "type": "modal",
        "callback_id": Callback.SETTINGS.value,
        "title": plain("Your reminders", PLAIN_TEXT_TITLE_MAX),
        "submit": plain("Save", PLAIN_TEXT_TITLE_MAX),
        "close": plain("Cancel", PLAIN_TEXT_TITLE_MAX),
        "blocks": [
            section("Reminders skip weekends and your country's public holidays: one that would fall on a day "
                    "off comes the working day before. " + where),
            {"type": "input", "block_id": "country", "optional": True, "element": country_el,
             "label": plain("Country for public holidays", 2000),
             "hint": plain("Two letters (ISO 3166). Empty: your time zone's country.", 2000)},
            {"type": "input", "block_id": "hour", "optional": True, "element": hour_el,
             "label": plain("Reminder hour (your time)", 2000)},
            {"type": "input", "block_id": "paused", "optional": True, "element": paused_el,
             "label": plain("On leave? Pause reminders through", 2000),
             "hint": plain("Your last day away. Reminders due until then come on your first working day back. "
                           "Clear it to resume.", 2000)},
        ],
    }


def settings_saved_view(*, country: str | None, hour: int, paused_through: date | None, moved: int) -> Block:
    lines = [f"Holidays of: *{country or 'none (weekends only)'}*", f"Reminders at: *{hour:02d}:00* your time",
             f"Paused through: *{paused_through.isoformat()}*" if paused_through else "Not paused"]
    return {
        "type": "modal",
        "title": plain("Settings saved", PLAIN_TEXT_TITLE_MAX),
        "close": plain("Done", PLAIN_TEXT_TITLE_MAX),
        "blocks": [section(":white_check_mark: " + "\n".join(lines)),
                   context(f"{moved} pending reminder{'s' if moved != 1 else ''} moved to match.")],
    }
