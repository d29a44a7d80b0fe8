"""Explicit schema upgrades (issue 17, item 5), on SQLite and PostgreSQL: no command but `hub init` and
`hub db upgrade` migrates; every other command on a database behind or ahead of this hub stops with one
line naming it (exit 78); `hub db status` says where the schema stands; two upgrades at once never race."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import text

from hub.cli.context import EXIT_SCHEMA
from hub.cli.main import main as hub_cli
from hub.core.app import Hub
from hub.core.db import MIGRATIONS, known_revisions, make_engine, schema_revision
from hub.core.migrations import HEAD
from tests.helpers import make_office
from tests.postgres import PostgresDatabases, require

pytestmark = pytest.mark.integration


def downgraded(hub: Hub, revision: str) -> None:
    alembic = AlembicConfig()
    alembic.set_main_option("script_location", str(MIGRATIONS))
    alembic.attributes["engine"] = hub.engine
    command.downgrade(alembic, revision)


def hub_command(hub: Hub, *words: str) -> list[str]:
    return ["--config", str(hub.config.path), *words]


@pytest.fixture
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database without any table: a SQLite file not made yet, or a PostgreSQL database just created."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty' / 'hub.db'}"
    databases: PostgresDatabases = request.getfixturevalue("postgres")
    if (reason := databases.unavailable_reason()) is not None:
        require(reason)
    return databases.empty()


def office_on(tmp_path: Path, url: str) -> Path:
    """An office whose hub.toml names `url`, made without touching that database."""
    hub = make_office(tmp_path / "office", f"sqlite:///{tmp_path / 'scratch.db'}")
    hub.close()
    config = hub.config.path
    config.write_text(config.read_text().replace(f"sqlite:///{tmp_path / 'scratch.db'}", url, 1))
    return config


def test_every_command_on_an_older_schema_stops_with_one_line_and_migrates_nothing(
        hub: Hub, capsys: pytest.CaptureFixture[str]) -> None:
    older = known_revisions(hub.engine)[2]
    downgraded(hub, older)
    capsys.readouterr()

    for words in (("cases", "--json"), ("case", "show", "CW-26-00001-AA"), ("status",), ("run", "--once"),
                  ("search", "boiler"), ("purge", "--dry-run")):
        assert hub_cli(hub_command(hub, *words)) == EXIT_SCHEMA, words
        out, err = capsys.readouterr()
        name = " ".join(word for word in words if not word.startswith(("-", "CW-", "boiler")))
        assert out == "" and err == (f"hub {name}: the database is at schema {older}, this hub needs {HEAD}: run "
                                     "`hub db upgrade` (after a backup: `hub backup PATH`)\n"), words
    assert schema_revision(hub.engine) == older

    assert hub_cli(hub_command(hub, "db", "status")) == EXIT_SCHEMA
    assert capsys.readouterr().out == (f"schema {older}, this hub needs {HEAD}: 2 upgrades waiting: run "
                                       "`hub db upgrade` (after a backup: `hub backup PATH`)\n")
    assert hub_cli(hub_command(hub, "db", "status", "--json")) == EXIT_SCHEMA
    assert json.loads(capsys.readouterr().out) == {"current": older, "head": HEAD, "state": "behind",
                                                   "waiting": list(reversed(known_revisions(hub.engine)[:2]))}
    assert hub_cli(hub_command(hub, "check")) == 1
    assert f"but the database is at schema {older}, this hub needs {HEAD}" in capsys.readouterr().out

    assert hub_cli(hub_command(hub, "db", "upgrade")) == 0
    assert capsys.readouterr().out == f"schema upgraded from {older} to {HEAD}\n"
    assert hub_cli(hub_command(hub, "db", "upgrade")) == 0
    assert capsys.readouterr().out == f"schema {HEAD}: already up to date\n"
    assert hub_cli(hub_command(hub, "db", "status", "--json")) == 0
    assert json.loads(capsys.readouterr().out) == {"current": HEAD, "head": HEAD, "state": "up-to-date",
                                                   "waiting": []}
    assert hub_cli(hub_command(hub, "cases", "--json")) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_the_daemon_on_an_older_schema_says_one_line_with_its_log_at_info_too(hub: Hub) -> None:
    """`hub -v run` (the log at INFO, as under systemd): the one line, not Alembic's loading of its plugins."""
    older = known_revisions(hub.engine)[2]
    downgraded(hub, older)

    run = subprocess.run([sys.executable, "-m", "hub", *hub_command(hub, "-v", "run", "--once")],
                         capture_output=True, text=True, timeout=120)

    assert run.returncode == EXIT_SCHEMA
    assert run.stderr.splitlines() == [f"hub run: the database is at schema {older}, this hub needs {HEAD}: run "
                                       "`hub db upgrade` (after a backup: `hub backup PATH`)"], run.stderr


def test_a_database_a_newer_hub_upgraded_stops_every_command_and_is_not_touched(
        hub: Hub, capsys: pytest.CaptureFixture[str]) -> None:
    with hub.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))

    for words in (("cases",), ("db", "upgrade")):
        assert hub_cli(hub_command(hub, *words)) == EXIT_SCHEMA
        assert capsys.readouterr().err == (f"hub {' '.join(words)}: the database is at schema 9999, newer than this "
                                           f"hub (which knows up to {HEAD}): a newer casework-hub has upgraded it; "
                                           "install that version again\n")
    assert hub_cli(hub_command(hub, "db", "status", "--json")) == EXIT_SCHEMA
    assert json.loads(capsys.readouterr().out)["state"] == "ahead"
    assert schema_revision(hub.engine) == "9999"


@pytest.mark.parametrize("empty_database_url", ["sqlite", "postgresql"], indirect=True)
def test_an_empty_database_gets_its_tables_from_hub_db_upgrade_alone(
        tmp_path: Path, empty_database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    config = office_on(tmp_path, empty_database_url)
    capsys.readouterr()

    assert hub_cli(["--config", str(config), "status"]) == EXIT_SCHEMA
    assert capsys.readouterr().err == ("hub status: the database has no hub tables yet: run `hub db upgrade` "
                                       "to create them\n")
    assert hub_cli(["--config", str(config), "db", "status", "--json"]) == EXIT_SCHEMA
    assert json.loads(capsys.readouterr().out) == {"current": None, "head": HEAD, "state": "empty",
                                                   "waiting": list(reversed(known_revisions(make_engine(
                                                       empty_database_url))))}
    assert hub_cli(["--config", str(config), "db", "upgrade"]) == 0
    assert capsys.readouterr().out == f"schema created at {HEAD}\n"
    assert hub_cli(["--config", str(config), "cases"]) == 0
    assert capsys.readouterr().out == "no cases\n"


@pytest.mark.parametrize("empty_database_url", ["sqlite", "postgresql"], indirect=True)
def test_two_upgrades_at_once_never_race(tmp_path: Path, empty_database_url: str) -> None:
    config = office_on(tmp_path, empty_database_url)
    upgrades = [subprocess.Popen([sys.executable, "-m", "hub", "--config", str(config), "db", "upgrade"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(process.wait(120), *process.communicate()) for process in upgrades]

    assert [code for code, _, _ in results] == [0, 0], results
    assert sorted(out for _, out, _ in results) == sorted([f"schema created at {HEAD}\n",
                                                           f"schema {HEAD}: already up to date\n"])
    engine = make_engine(empty_database_url)
    assert schema_revision(engine) == HEAD
    with engine.connect() as connection:  # the schema once: one version row, the newest table there and empty
        assert connection.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
        assert connection.execute(text("SELECT count(*) FROM leases")).scalar() == 0
    engine.dispose()
