"""Use cases: domain rules + store + gateways. Nothing here imports Slack's SDK or Bolt."""
