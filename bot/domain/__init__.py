"""Pure rules of the L&D domain: no Slack, no network, no database, time passed in."""
