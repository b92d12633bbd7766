"""Listeners: parse the payload, ack() fast, call a service. One module per kind of payload."""
