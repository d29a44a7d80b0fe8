"""Alembic migrations of the hub's schema; `hub init` and `hub db upgrade` bring a database to head, and every
other command stops on a database that is not there (hub.core.db.open_database)."""

# The newest revision, so that a start checks the database without importing Alembic (a fifth of
# the start-up time). A test checks it against the scripts; a new migration updates it.
HEAD = "0023"
