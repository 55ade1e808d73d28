"""Persistence: sqlmodel tables, the unit of work, migrations and the outbox."""
