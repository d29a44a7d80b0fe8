"""Alembic migrations of the hub's schema; `hub init` and every start bring a database to head."""

# The newest revision, so that a start finds a current database without importing Alembic (a fifth of
# the start-up time). A test checks it against the scripts; a new migration updates it.
HEAD = "0019"
