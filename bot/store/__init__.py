"""Persistence: engine and session scope, ORM models, and the queries services use."""
