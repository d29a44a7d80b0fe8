"""The header every message the hub writes carries, by which intake's screening knows the hub's own mail.

A module of its own so that screening, in the parse worker, need not import composition (its database
models and templates)."""

LOOP_HEADER = "X-Casework-Hub-Loop"
