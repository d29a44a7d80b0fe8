"""Alembic migrations of the hub's schema; `hub init` and every start bring a database to head."""
