"""`learnbot check`: is this process ready to run? Settings, catalogue, database, and (online) Slack and GitLab.

Every finding is one line that names the setting and says how to fix it; the CLI prints them and
exits 2 if any is an error. Nothing here changes anything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import yaml

from bot.catalog import LoadedCatalog
from bot.config import Settings, hide_password, mask_credentials
from bot.resources import shipped
from bot.services.issues import rehearse
from bot.store.migrate import DatabaseUnavailable, database_fit

MANIFEST = shipped("manifest.yml")


@dataclass
class Findings:
    ok: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def check_catalog(catalog: LoadedCatalog, *, today: date) -> list[str]:
    """Every template of every model rendered with sample answers of every field type (see issues.rehearse)."""
    return [f"catalogue {catalog.source}: {p}" for p in rehearse(catalog, today=today)]


def check_database(database_url: str) -> tuple[str | None, str | None]:
    """(ok line, error line): reachable, and at a schema this learnbot runs on (as /readyz and start-up say)."""
    shown = hide_password(database_url)
    try:
        fit = database_fit(database_url)
    except DatabaseUnavailable as exc:
        return None, str(exc)
    if not fit.ok:
        return None, f"DATABASE_URL {shown}: {fit.reason}"
    if fit.current != fit.head:
        return f"database {shown}: reachable, {fit.reason}", None
    return f"database {shown}: reachable, migrations current ({fit.head})", None


def manifest_scopes(path: Path = MANIFEST) -> frozenset[str] | None:
    try:
        manifest = yaml.safe_load(path.read_text(encoding="utf-8"))
        return frozenset(manifest["oauth_config"]["scopes"]["bot"])
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return None


def check_slack(settings: Settings, findings: Findings) -> None:
    """auth.test with the bot token; its scopes (x-oauth-scopes) against the ones manifest.yml asks for."""
    from bot.gateways.slack import SlackGateway, SlackRefused, SlackSetupWrong, SlackUnavailable, make_web_client

    if not settings.slack_bot_token:
        return  # already an error of the settings
    slack = SlackGateway(make_web_client(settings.slack_bot_token.get_secret_value(), settings.slack_api_url))
    try:
        who, scopes = slack.whoami()
    except (SlackRefused, SlackSetupWrong) as exc:
        code = exc.code or f"HTTP {exc.status}"
        if code == "missing_scope":
            needed = exc.response.get("needed") or "?"
            findings.errors.append(f"SLACK_BOT_TOKEN lacks the scope {needed} (Slack: missing_scope): add it in the "
                                   "Slack app under OAuth & Permissions → Scopes, then reinstall the app")
        elif code in ("invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"):
            findings.errors.append(f"SLACK_BOT_TOKEN is refused by Slack ({code}): copy the Bot User OAuth Token "
                                   "again from the Slack app's OAuth & Permissions page (reinstall the app if it "
                                   "was removed)")
        else:
            findings.errors.append(f"SLACK_BOT_TOKEN: Slack's auth.test failed ({code})")
        return
    except SlackUnavailable as exc:
        if exc.code:  # Slack answered, with an error of its own
            findings.errors.append(f"SLACK_BOT_TOKEN: Slack's auth.test failed ({exc.code})")
            return
        findings.errors.append(f"SLACK_API_URL {hide_password(settings.slack_api_url)}: Slack unreachable "
                               f"({mask_credentials(_first_line(exc.__cause__ or exc))}): "
                               "check the network or the URL")
        return
    findings.ok.append(f"Slack: token of {who.get('user') or who.get('user_id')} in {who.get('team') or '?'} "
                       f"({who.get('team_id') or '?'})")
    wanted = manifest_scopes()
    if scopes is None or wanted is None:
        findings.warnings.append("Slack did not say the token's scopes (x-oauth-scopes); compare them with "
                                 "manifest.yml by hand")
        return
    missing = sorted(wanted - scopes)
    if missing:
        findings.errors.append(f"SLACK_BOT_TOKEN lacks the scope{'s' if len(missing) > 1 else ''} "
                               f"{', '.join(missing)} that manifest.yml asks for: add "
                               f"{'them' if len(missing) > 1 else 'it'} in the Slack app under OAuth & "
                               "Permissions → Scopes, then reinstall the app to the workspace")
    else:
        findings.ok.append(f"Slack: the token has every scope manifest.yml asks for ({', '.join(sorted(wanted))})")


def check_gitlab(settings: Settings, findings: Findings, catalog: LoadedCatalog | None = None) -> None:
    """Read the project with the token: 401, 403 and 404 each name what to fix; then which models file with the
    project's own description templates."""
    from bot.gateways.gitlab import GitLabGateway, GitLabRejected, GitLabUnavailable

    if not settings.gitlab_token or not settings.gitlab_project:
        return
    project = settings.gitlab_project
    shown = hide_password(settings.gitlab_url)
    gitlab = GitLabGateway(settings.gitlab_url, settings.gitlab_token.get_secret_value(), project, timeout=15)
    try:
        found = gitlab.health()
    except (GitLabRejected, GitLabUnavailable) as exc:
        if isinstance(exc, GitLabUnavailable) and exc.status != 401:
            findings.errors.append(f"GITLAB_URL {shown}: GitLab unreachable ({mask_credentials(str(exc))}): check the "
                                   "network or the URL")
            return
        if exc.status == 401:
            findings.errors.append(f"GITLAB_TOKEN is refused by {shown} (401 Unauthorized): the "
                                   "token is wrong, expired or revoked; create one with the api scope")
        elif exc.status == 403:
            findings.errors.append(f"GITLAB_TOKEN may not read GITLAB_PROJECT {project} (403 Forbidden): give the "
                                   "token the api scope and its user at least the Reporter role in the project")
        elif exc.status == 404:
            findings.errors.append(f"GITLAB_PROJECT {project} is not found at {shown} (404): check "
                                   "the numeric id or full path, and that the token's user is a member")
        else:
            findings.errors.append(f"GITLAB_PROJECT {project}: GitLab refused to show it ({exc})")
        return
    if found.get("issues_enabled") is False:
        findings.errors.append(f"GITLAB_PROJECT {project} has issues turned off: enable them under Settings → "
                               "General → Visibility")
        return
    findings.ok.append(f"GitLab: project {found.get('path_with_namespace') or project} readable with the token")
    if catalog is not None:
        check_templates(gitlab.issue_template, catalog, findings)


def check_templates(read: Callable[[str], str | None], catalog: LoadedCatalog, findings: Findings) -> None:
    """Per model: the project's description template of its template's name, or learnbot's shipped one. A template
    GitLab cannot serve is a warning: filing goes on with the shipped one."""
    from bot.services.project_templates import ProjectTemplates, template_names

    templates = ProjectTemplates(read)
    own: list[str] = []
    shipped: list[str] = []
    for model in catalog.models:
        lookups = [templates.fresh(name) for name in template_names(model)]
        for failed in (x for x in lookups if x.problem):
            findings.warnings.append(f"GitLab: description template {failed.name} could not be read "
                                     f"({mask_credentials(failed.problem or '')}): {model.key} files with learnbot's "
                                     "shipped one until it can")
        found = [x.name for x in lookups if x.text is not None]
        rest = [x.name for x in lookups if x.text is None]
        if not found:
            shipped.append(model.key)
        else:
            own.append(f"{model.key} uses the project's {', '.join(found)}"
                       + (f" (learnbot's shipped {', '.join(rest)})" if rest else ""))
    said = "; ".join(own) if own else "none of the models' names is in the project's .gitlab/issue_templates"
    if shipped:
        said += f"; learnbot's shipped templates for {', '.join(shipped)}"
    findings.ok.append(f"GitLab: description templates: {said}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def run_checks(settings: Settings, catalog: LoadedCatalog, *, today: date, online: bool) -> Findings:
    findings = Findings()
    errors, warnings = settings.readiness()
    findings.errors += errors
    findings.warnings += warnings
    if not errors:
        findings.ok.append("settings: what serve and worker need is set")
    from bot.ops.preview import validate_all_messages  # builds every view: imported only when checking

    problems = check_catalog(catalog, today=today) + [f"Block Kit: {p}" for p in validate_all_messages(catalog)]
    findings.errors += problems
    if not problems:
        findings.ok.append(f"catalogue {catalog.source}: every template renders and every form and message "
                           f"fits Block Kit ({', '.join(catalog.catalog.keys)})")
    ok, error = check_database(settings.database_url)
    if ok:
        findings.ok.append(ok)
    if error:
        findings.errors.append(error)
    if online:
        check_slack(settings, findings)
        check_gitlab(settings, findings, catalog)
    return findings
