"""Prometheus metrics served on GET /metrics."""

from prometheus_client import Counter, Histogram

REQUESTS_SUBMITTED = Counter("learnbot_requests_submitted_total", "Support requests stored", ["model"])
SUBMISSIONS_REFUSED = Counter("learnbot_submissions_refused_total", "Modal submissions refused inline", ["model"])
ISSUES_FILED = Counter("learnbot_issues_filed_total", "GitLab issues opened", ["model"])
GITLAB_ERRORS = Counter("learnbot_gitlab_errors_total", "GitLab calls that failed", ["kind"])
DISPATCH_SECONDS = Histogram("learnbot_dispatch_seconds", "Duration of one dispatch pass")
# The one set of counts for every kind of owed work the runner runs (bot/services/runner.py).
OWED_WORK = Counter("learnbot_owed_work_total", "Owed work run by the worker, by kind and outcome "
                    "(done, retry, waiting, failed, skipped)", ["kind", "outcome"])
OWED_WORK_SECONDS = Histogram("learnbot_owed_work_seconds", "Time to run one item of owed work, by kind", ["kind"])
DECISIONS = Counter("learnbot_decisions_total", "Decisions on requests, by resulting state", ["state"])

# --- Operations (issue 12): answers to Slack, and calls to Slack and GitLab --------------------
# Labels stay small: kind is one of a few payload kinds, method a Web API method or a gateway call.
SLACK_ANSWER_SECONDS = Histogram(
    "learnbot_slack_answer_seconds", "Time to answer a request from Slack on /slack/events, by payload kind", ["kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 3.0, 5.0))
SLACK_CALLS = Counter("learnbot_slack_calls_total", "Calls to Slack's Web API by method and outcome (ok|error)",
                      ["method", "outcome"])
SLACK_CALL_SECONDS = Histogram("learnbot_slack_call_seconds", "Latency of calls to Slack's Web API", ["method"])
GITLAB_CALLS = Counter("learnbot_gitlab_calls_total", "Calls to GitLab's API by method and outcome (ok|error)",
                       ["method", "outcome"])
GITLAB_CALL_SECONDS = Histogram("learnbot_gitlab_call_seconds", "Latency of calls to GitLab's API", ["method"])
PURGED_ROWS = Counter("learnbot_retention_purged_rows_total", "Rows removed by the retention purge", ["table"])
# A database out of reach (bot/store/outage.py): each failed transaction, and each outage (first failure
# after a success). The web process's /metrics also shows learnbot_database_up, read at scrape time.
DATABASE_ERRORS = Counter("learnbot_database_errors_total",
                          "Transactions that failed because the database could not be reached")
DATABASE_OUTAGES = Counter("learnbot_database_outages_total",
                           "Times the database became unreachable (logged once each, with its end)")
