"""learnbot: a Slack app for a Learning & Development team's support requests, with GitLab as record."""

__version__ = "0.1.0"
