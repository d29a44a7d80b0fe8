"""The running context of one office: configuration, database, references and clock, built once."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from hub.core import config as config_module
from hub.core.clock import Clock, SystemClock
from hub.core.config import Config
from hub.core.db import open_database, session_factory
from hub.core.private_files import FILE_MODE, FOLDER_MODE, tighten
from hub.core.refs import References


@dataclass(frozen=True)
class Hub:
    config: Config
    engine: Engine
    sessions: sessionmaker[Session]
    clock: Clock

    @functools.cached_property
    def refs(self) -> References:
        """The office's references, made once: delivery asks for them several times a letter."""
        return References(self.config.office.reference_prefix, self.config.office.secret)

    def close(self) -> None:
        self.engine.dispose()


def config_path(explicit: str | None) -> Path:
    """--config, then $HUB_CONFIG, then config/hub.toml under the current folder."""
    return Path(explicit or os.environ.get("HUB_CONFIG") or "config/hub.toml")


def open_hub(path: Path, clock: Clock | None = None, pool: tuple[int, int] | None = None) -> Hub:
    """The office of the hub.toml at `path`; `pool` sizes its PostgreSQL connection pool (hub.core.db)."""
    config = config_module.load(path)
    # An office made by an older version, or by hand: its secret and its var/ (the database, the Maildirs)
    # become the service user's alone. The SQLite database itself is tightened where it is opened.
    tighten(path, FILE_MODE)
    tighten(config.resolve("var"), FOLDER_MODE)
    engine = open_database(config.database_url, pool)
    return Hub(config, engine, session_factory(engine), clock or SystemClock())
