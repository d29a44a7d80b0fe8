"""The schema version a start checks for is the newest migration script's."""

from __future__ import annotations

from alembic.config import Config
from alembic.script import ScriptDirectory

from hub.core.db import MIGRATIONS
from hub.core.migrations import HEAD


def test_head_is_the_newest_migration_script() -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD
