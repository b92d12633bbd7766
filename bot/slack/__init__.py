"""Slack: the Bolt app, listener registration, ids and Block Kit builders."""
