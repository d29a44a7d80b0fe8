"""`hub db status` and `hub db upgrade`: the schema, read and upgraded only when the administrator says so."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Engine

from hub.cli.context import EXIT_SCHEMA, print_json
from hub.core import config as config_module
from hub.core.app import config_path
from hub.core.db import make_engine
from hub.core.schema import schema_status, upgrade

T = TypeVar("T")


def with_database(args: argparse.Namespace, work: Callable[[Engine, str], T]) -> T:
    """`work` on the office's database (its engine and URL), whatever its schema."""
    url = config_module.load(config_path(args.config)).database_url
    engine = make_engine(url)
    try:
        return work(engine, url)
    finally:
        engine.dispose()


def cmd_db_status(args: argparse.Namespace) -> int:
    status = with_database(args, schema_status)
    if args.json:
        print_json(status.as_json())
    else:
        print(status.line())
    return 0 if status.state == "up-to-date" else EXIT_SCHEMA


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    before, after = with_database(args, upgrade)
    if before == after:
        print(f"schema {after}: already up to date")
    elif before is None:
        print(f"schema created at {after}")
    else:
        print(f"schema upgraded from {before} to {after}")
    return 0
