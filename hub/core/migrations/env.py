"""Alembic environment: runs migrations on the engine the hub hands in (never a URL from a file)."""

from alembic import context

from hub.core.models import Base

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()
