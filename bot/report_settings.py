"""The report's settings (issue 17): where and when the monthly L&D report is posted. bot.config.Settings
inherits them, validated as the rest: once, at start, and by `learnbot check`."""

from __future__ import annotations

from pydantic import field_validator
from pydantic_settings import BaseSettings


class ReportSettings(BaseSettings):
    # The monthly report's channel (None: no post) and its crontab(5), in LEARNBOT_TIMEZONE.
    learnbot_report_channel: str | None = None
    learnbot_report_cron: str = "0 9 1 * *"

    @field_validator("learnbot_report_cron")
    @classmethod
    def _report_cron(cls, value: str) -> str:
        from bot.domain.schedule import checked_crontab

        return checked_crontab(value, "0 9 1 * *", "the 1st at 09:00")

    @field_validator("learnbot_report_channel")
    @classmethod
    def _report_channel(cls, value: str | None) -> str | None:
        # Set but empty is a mistake, not "no report": said at start rather than silently posting nothing.
        if value is not None and value.strip() == "":
            raise ValueError("is set but empty: remove it for no monthly report, or give a channel id like "
                             "C0123456789")
        if value is not None:
            from bot.config import channel_id_problem

            problem = channel_id_problem(value.strip())
            if problem:
                raise ValueError(problem)
            return value.strip()
        return value

    def report_warnings(self) -> list[str]:
        if not self.learnbot_report_channel:
            return ["LEARNBOT_REPORT_CHANNEL is not set: no monthly L&D report will be posted "
                    "(`learnbot report` and `/learn report` still work)"]
        return []
