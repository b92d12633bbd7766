"""Small classes in front of outside systems (Slack's Web API, GitLab's REST API)."""
