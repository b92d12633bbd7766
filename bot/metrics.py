"""Prometheus metrics served on GET /metrics."""

from prometheus_client import Counter, Histogram

REQUESTS_SUBMITTED = Counter("learnbot_requests_submitted_total", "Support requests stored", ["model"])
SUBMISSIONS_REFUSED = Counter("learnbot_submissions_refused_total", "Modal submissions refused inline", ["model"])
ISSUES_FILED = Counter("learnbot_issues_filed_total", "GitLab issues opened", ["model"])
GITLAB_ERRORS = Counter("learnbot_gitlab_errors_total", "GitLab calls that failed", ["kind"])
DISPATCH_SECONDS = Histogram("learnbot_dispatch_seconds", "Duration of one dispatch pass")
REMINDERS = Counter("learnbot_reminders_total", "Reminder deliveries by outcome", ["outcome"])
DECISIONS = Counter("learnbot_decisions_total", "Decisions on requests, by resulting state", ["state"])
NOTICES = Counter("learnbot_notices_total", "Messages owed to people (DMs, channel posts), by outcome", ["outcome"])
