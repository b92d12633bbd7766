"""Settings: read once from the environment (and an optional .env), validated at start (SPEC §8)."""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from bot.report_settings import ReportSettings

SLACK_DEFAULT_API_URL = "https://slack.com/api/"
DEFAULT_HANDBOOK_PREFIXES = (
    "https://handbook.gitlab.com/",
    "https://about.gitlab.com/handbook/",
    # The LXP seed names the DIB pages under /company/culture/ as a handbook location.
    "https://about.gitlab.com/company/culture/",
)
_SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_SLACK_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{2,}$")


def channel_id_problem(value: str) -> str | None:
    """Why `value` is not a Slack channel id (C…/G…), with how to find the id; None if it is one."""
    if _SLACK_CHANNEL_ID.match(value):
        return None
    return (f"must be a channel id like C0123456789, not {value!r}: in Slack open the channel, click its name, "
            "and copy the Channel ID shown at the bottom of the About tab")


class ConfigError(Exception):
    """A setting is missing or wrong; the message names it and says how to fix it."""


def _split_list(value: object) -> object:
    # Lists come from the environment as "a,b c" rather than JSON, as operators type them.
    if isinstance(value, str):
        return [part for part in re.split(r"[,\s]+", value.strip()) if part]
    return value


class Settings(ReportSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="forbid")

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = SLACK_DEFAULT_API_URL

    gitlab_url: str = "https://gitlab.com"
    gitlab_token: SecretStr | None = None
    gitlab_project: str | None = None
    gitlab_webhook_secret: SecretStr | None = None

    database_url: str = "sqlite:///learnbot.db"

    learnbot_digest_channel: str | None = None
    # Where the L&D team decides new requests (§12); without it requests are accepted on filing.
    learnbot_triage_channel: str | None = None
    learnbot_digest_cron: str = "0 9 * * 1"
    learnbot_timezone: str = "UTC"
    learnbot_reminder_hour: int = Field(default=9, ge=0, le=23)
    learnbot_relay_notes: bool = True  # DM the requester comments people leave on their issue
    # "Send to L&D" on a message: also reply in the message's thread with the issue link.
    learnbot_shortcut_thread_reply: bool = False
    learnbot_admins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    learnbot_handbook_prefixes: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_HANDBOOK_PREFIXES)
    )
    learnbot_catalog: Path | None = None
    # Operations (issue 12): how logs are written, and how long finished rows are kept.
    learnbot_log_format: Literal["text", "json"] = "text"
    learnbot_retention_days: int = Field(default=180, ge=1)
    # chat.postMessage's workspace-wide ceiling ("several hundred messages per minute", Slack says).
    learnbot_slack_posts_per_minute: int = Field(default=600, ge=1)
    # The port `learnbot serve` listens on when --port is not given (Heroku and others set PORT).
    port: int = 3000

    @field_validator("port", mode="before")
    @classmethod
    def _port(cls, value: object) -> object:
        return port_number(value)

    @field_validator("learnbot_admins", "learnbot_handbook_prefixes", mode="before")
    @classmethod
    def _lists(cls, value: object) -> object:
        return _split_list(value)

    @field_validator("slack_bot_token", "slack_signing_secret", "slack_app_token", "gitlab_token",
                     "gitlab_webhook_secret", mode="before")
    @classmethod
    def _secret_not_blank(cls, value: object) -> object:
        # Empty is not unset: an unset ${VAR} in compose or an empty Kubernetes secret key gives "", and an
        # empty GITLAB_WEBHOOK_SECRET would match a delivery that sends no token at all.
        if isinstance(value, str) and not value.strip():
            raise ValueError("is set but empty: give it its value, or remove the line to leave it unset")
        return value

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("xoxb-"):
            raise ValueError("must be a bot token starting with 'xoxb-' (OAuth & Permissions page)")
        return value

    @field_validator("slack_app_token")
    @classmethod
    def _app_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("xapp-"):
            raise ValueError("must be an app-level token starting with 'xapp-' (Basic Information page)")
        return value

    @field_validator("slack_api_url", "gitlab_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"must be an http(s) URL, got {hide_password(value)!r}")
        return value

    @field_validator("slack_api_url")
    @classmethod
    def _slash(cls, value: str) -> str:
        # slack_sdk joins base_url + method name, so the slash is not optional.
        return value if value.endswith("/") else value + "/"

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if not re.match(r"^[a-z0-9+]+://", value):
            raise ValueError(f"must be an SQLAlchemy URL such as sqlite:///learnbot.db, got {hide_password(value)!r}")
        # psycopg 3 is the driver we ship; plain postgres URLs would ask for psycopg2.
        return readable_database_url(re.sub(r"^postgres(ql)?://", "postgresql+psycopg://", value))

    @field_validator("learnbot_triage_channel")
    @classmethod
    def _triage_channel(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[CG][A-Z0-9]{2,}", value):
            raise ValueError(f"must be a Slack channel id like C012ABCDEF (not a #name), got {value!r}")
        return value

    @field_validator("learnbot_digest_cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        from bot.domain.schedule import checked_crontab

        return checked_crontab(value, "0 9 * * 1", "Mondays at 09:00")

    @field_validator("learnbot_digest_channel")
    @classmethod
    def _digest_channel(cls, value: str | None) -> str | None:
        if value is not None and value.strip() == "":
            return None
        if value is not None:
            problem = channel_id_problem(value.strip())
            if problem:
                raise ValueError(problem)
            return value.strip()
        return value

    @field_validator("learnbot_timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"is not an IANA time zone such as 'Europe/Berlin', got {value!r}") from None
        return value

    @field_validator("learnbot_admins")
    @classmethod
    def _admins(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not _SLACK_USER_ID.match(v)]
        if bad:
            raise ValueError(f"must be Slack user ids like U012ABCDEF, not {', '.join(bad)}")
        return value

    @field_validator("learnbot_handbook_prefixes")
    @classmethod
    def _prefixes(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("needs at least one URL prefix")
        bad = [v for v in value if not re.match(r"^https?://[^/\s]+/", v)]
        if bad:
            raise ValueError(f"must be URL prefixes like https://handbook.gitlab.com/, not {', '.join(bad)}")
        return value

    @field_validator("learnbot_catalog")
    @classmethod
    def _catalog(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"points to {value}, which is not a file")
        return value

    # --- what each process needs -------------------------------------------------------------

    @property
    def timezone(self) -> ZoneInfo:
        return ZoneInfo(self.learnbot_timezone)

    @property
    def admins(self) -> frozenset[str]:
        return frozenset(self.learnbot_admins)

    def webhook_token(self) -> bytes | None:
        """The X-Gitlab-Token a delivery must carry; None: POST /gitlab/webhook refuses every delivery.

        Never empty: an empty expected token would match a delivery that sends none.
        """
        secret = self.gitlab_webhook_secret.get_secret_value() if self.gitlab_webhook_secret else ""
        return secret.encode() if secret.strip() else None

    def readiness(self) -> tuple[list[str], list[str]]:
        """What `learnbot serve` and `learnbot worker` need, as (errors, warnings): one line each, naming
        the setting and how to fix it."""
        errors, warnings = [], []
        if not self.slack_bot_token:
            errors.append("SLACK_BOT_TOKEN is not set: serve, worker and dispatch talk to Slack with the bot token "
                          "(xoxb-…, Slack app → OAuth & Permissions → Bot User OAuth Token)")
        if not self.slack_signing_secret and not self.slack_app_token:
            errors.append("SLACK_SIGNING_SECRET is not set: `learnbot serve` verifies every request from Slack "
                          "with it (Slack app → Basic Information → Signing Secret); or set SLACK_APP_TOKEN "
                          "(xapp-…) and run `learnbot serve --socket`")
        if not self.gitlab_token:
            errors.append("GITLAB_TOKEN is not set: learnbot opens issues with it (a token with the api scope "
                          "that can create issues in GITLAB_PROJECT)")
        if not self.gitlab_project:
            errors.append("GITLAB_PROJECT is not set: give the L&D project's numeric id or full path, "
                          "e.g. learning-development/general")
        if self.webhook_token() is None:
            warnings.append("GITLAB_WEBHOOK_SECRET is not set: POST /gitlab/webhook will refuse every delivery "
                            "(401), so changes made in GitLab will not reach Slack; set it to the webhook's "
                            "Secret token")
        if not self.learnbot_admins:
            warnings.append("LEARNBOT_ADMINS is not set: nobody from L&D is told when a request cannot be filed, "
                            "and nobody may act for a requester")
        if not self.learnbot_digest_channel:
            warnings.append("LEARNBOT_DIGEST_CHANNEL is not set: no channel digest will be posted")
        errors, warnings = errors + example_values_in_use(self), warnings + self.report_warnings()
        return errors, warnings


class _ExplicitSettings(Settings):
    """Settings from an explicit mapping only (tests, tools): neither os.environ nor .env leak in."""

    @classmethod
    def settings_customise_sources(
        cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
    ):
        return (init_settings,)


def _known_env_names() -> set[str]:
    return {name.upper() for name in Settings.model_fields}


def unknown_learnbot_variables(environ: Mapping[str, str]) -> list[str]:
    """LEARNBOT_* variables the bot does not know: a typo here would otherwise be silently ignored."""
    known = _known_env_names()
    return sorted(k for k in environ if k.upper().startswith("LEARNBOT_") and k.upper() not in known)


def _suggest(name: str, choices: Iterable[str]) -> str:
    match = difflib.get_close_matches(name.upper(), list(choices), n=1)
    return f" (did you mean {match[0]}?)" if match else ""


def load_settings(environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Build Settings or raise ConfigError with a message a person can act on: every problem at once."""
    env = os.environ if environ is None else environ
    problems: list[str] = []
    unknown = unknown_learnbot_variables(env)
    if unknown:
        hints = "; ".join(f"{u}{_suggest(u, _known_env_names())}" for u in unknown)
        problems.append(f"unknown setting {hints}. Remove it or fix its name (see README, 'Settings').")
    try:
        if environ is None:
            settings: Settings = Settings(**overrides)  # type: ignore[arg-type]
        else:
            values: dict[str, object] = {k.lower(): v for k, v in environ.items()
                                         if k.upper() in _known_env_names()}
            values.update(overrides)
            settings = _ExplicitSettings.model_validate(values)
    except ValidationError as exc:
        invalid = []
        for err in exc.errors():
            name = str(err["loc"][0]).upper() if err["loc"] else "settings"
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = f"is not a learnbot setting{_suggest(name, _known_env_names())}"
            invalid.append(f"{name} {msg}")
        problems.append("invalid settings: " + "; ".join(invalid))
    if problems:
        raise ConfigError(mask_credentials("\n".join(problems))) from None
    return settings


# --- showing URLs without their passwords (issue 15) -------------------------------------------------

# scheme://user:password@host: the password part, wherever a URL appears in a message.
_URL_PASSWORD = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@'\"]*:)[^\s@/'\"]+@")


def hide_password(url: str) -> str:
    """`url` as it may be printed or logged: a password in it becomes ***."""
    if re.match(r"^https?://", url, re.IGNORECASE):
        parts = urlsplit(url)
        if parts.password is None:
            return url
        host = parts.netloc.rsplit("@", 1)[1]
        return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):  # not a URL SQLAlchemy can read: whatever sits between : and @ goes
        return re.sub(r":[^\s@/'\"]+@", ":***@", url)


def readable_database_url(url: str) -> str:
    """`url` if SQLAlchemy can read it (a port that is not a number would fail deep inside it), else a
    ValueError that shows it without its password."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        make_url(url)
    except (ArgumentError, ValueError) as exc:
        said = mask_credentials(str(exc).replace(url, hide_password(url)))
        raise ValueError(f"cannot be read as an SQLAlchemy URL ({said}), got {hide_password(url)!r}: use e.g. "
                         "postgresql://USER:PASSWORD@HOST:5432/DBNAME") from None
    return url


def mask_credentials(text: str) -> str:
    """Any `scheme://user:password@` in free text (an error message quoting a URL) with the password as ***."""
    return _URL_PASSWORD.sub(r"\1***@", text)


# --- a number for PORT ---------------------------------------------------------------------------------

def port_number(value: object) -> object:
    """PORT as an int 0-65535, or a ValueError naming what was given."""
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise ValueError(f"must be a port number (0-65535), got {value!r}") from None
    if isinstance(value, int) and not 0 <= value <= 65535:
        raise ValueError(f"must be a port number (0-65535), got {value}")
    return value


# --- .env.example's placeholders are not settings ------------------------------------------------------

# The values .env.example ships with (tests/unit/test_settings_docs.py keeps the two in step): an unedited
# `cp .env.example .env` must not look ready, nor start with tokens Slack and GitLab will refuse.
EXAMPLE_VALUES: dict[str, str] = {
    "slack_bot_token": "xoxb-your-bot-token", "slack_signing_secret": "your-signing-secret",
    "slack_app_token": "xapp-only-for-socket-mode", "gitlab_token": "glpat-a-token-with-api-scope",
    "gitlab_webhook_secret": "a-long-random-string",
}


def _plain(value: object) -> str | None:
    if value is None:
        return None
    return value.get_secret_value() if isinstance(value, SecretStr) else str(value)


def example_values_in_use(settings: Settings) -> list[str]:
    """One line per setting still holding .env.example's placeholder."""
    return [f"{name.upper()} is still the example value from .env.example ({example!r}): replace it with the "
            "real one (see README, 'Connect it to Slack and GitLab')"
            for name, example in EXAMPLE_VALUES.items() if _plain(getattr(settings, name)) == example]


# --- what a command needs, named all at once --------------------------------------------------------

def unmet_needs(settings: Settings, needs: Iterable[tuple[str, str]]) -> list[str]:
    """For each (setting, why) that is unset, one line saying so and why it is needed."""
    return [f"{name.upper()} is not set: it is needed {why}" for name, why in needs
            if _plain(getattr(settings, name)) in (None, "")]


def require_all(settings: Settings, needs: Iterable[tuple[str, str]]) -> None:
    """Raise one ConfigError naming every unset need and every placeholder left from .env.example, all at
    once (not the first one, then the next on the next start)."""
    lines = unmet_needs(settings, needs) + example_values_in_use(settings)
    if lines:
        lines.append("Set them in the environment or in a .env file (see README, 'Settings').")
        raise ConfigError("\n".join(lines))


# --- SLACK_… and GITLAB_… variables that look like a misspelt setting ---------------------------------

def misspelt_variables(environ: Mapping[str, str]) -> list[str]:
    """SLACK_*/GITLAB_* variables that are not settings but close to one: a warning each (other tools set
    variables with these prefixes too, such as GitLab CI's GITLAB_CI, so only near misses are named)."""
    known = _known_env_names()
    found = []
    for name in sorted(environ):
        upper = name.upper()
        if upper in known or not upper.startswith(("SLACK_", "GITLAB_")):
            continue
        match = difflib.get_close_matches(upper, sorted(known), n=1, cutoff=0.8)
        if match:
            found.append(f"{name} is not a learnbot setting (did you mean {match[0]}?): it is ignored")
    return found
