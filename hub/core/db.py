"""The database engine, sessions, and schema migration (Alembic) for SQLite and PostgreSQL.

Only `hub init` and `hub db upgrade` (hub.core.schema) migrate; every other command opens a database at
this hub's HEAD or stops with one line saying what to do (`open_database`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, String, create_engine, event, inspect, literal_column, make_url, text
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, NoSuchModuleError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool
from sqlalchemy.sql.elements import ColumnElement, SQLCoreOperations

from hub.core.errors import SchemaError, TemporaryError, UserError
from hub.core.migrations import HEAD
from hub.core.private_files import FILE_MODE, create_file, make_folder, tighten

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

MIGRATIONS = Path(__file__).parent / "migrations"
# SQLSTATE classes in which the server, not the statement, is in trouble (PostgreSQL's Appendix A):
# connection exception, transaction rollback (deadlock, serialization), insufficient resources, object not
# in prerequisite state (lock not available), operator intervention (shutdown), system error, internal error.
SERVER_TROUBLE = frozenset({"08", "40", "53", "55", "57", "58", "XX"})
# What SQLite says when the file, not the statement, is the problem.
SQLITE_TROUBLE = ("locked", "busy", "disk", "unable to open", "readonly", "no such table", "malformed")
CONNECT_TIMEOUT_SECONDS = 10  # libpq's connect_timeout, unless the database URL sets its own


def make_engine(url: str, pool: tuple[int, int] | None = None) -> Engine:
    """`pool`: PostgreSQL's (pool_size, max_overflow) when not SQLAlchemy's 5 and 10, as for the many
    offices of a deployment sharing one server's connections (hub.run.offices); (0, 0) keeps none: each
    connection is closed when given back."""
    # hide_parameters: a failed statement's error (and so every traceback and log line quoting it) would
    # otherwise carry the row's values: addresses, numbers, whole messages.
    if url.startswith("sqlite"):
        _private_sqlite_file(url)
        engine = _engine(url, connect_args={"timeout": 30}, hide_parameters=True)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "savepoint", _sqlite_savepoint_locks_first)
        return engine
    # No ping on every checkout: intake checks a connection out once per message, and the ping would
    # cost a round trip each time; connections are recycled instead, and a failed one raises an
    # OperationalError that the caller treats as temporary.
    # A server that takes the connection and never answers would hold a job (or a request) for as long as
    # libpq waits, which is for ever unless the URL says otherwise.
    connect_args = {} if "connect_timeout" in make_url(url).query else {"connect_timeout": CONNECT_TIMEOUT_SECONDS}
    sizes: dict[str, Any] = {} if pool is None else {"pool_size": pool[0], "max_overflow": pool[1]}
    if pool == (0, 0):
        sizes = {"poolclass": NullPool}
    return _engine(url, pool_recycle=1800, hide_parameters=True, connect_args=connect_args, **sizes)


def _engine(url: str, **options: Any) -> Engine:
    """SQLAlchemy's engine, or a one-line UserError when the URL's dialect or driver cannot be loaded."""
    try:
        return create_engine(url, **options)
    except NoSuchModuleError:
        raise UserError(f"[database] url {redact_url(url)}: no such database or driver: "
                        "write sqlite:///FILE or postgresql+psycopg://…") from None
    except ImportError:  # SQLAlchemy imports the URL's driver here; psycopg without libpq says so too
        raise UserError(_missing_driver(url)) from None


def _missing_driver(url: str) -> str:
    """What to install for a database URL whose driver cannot be imported (psycopg is an extra)."""
    driver = make_url(url).get_driver_name()
    if driver != "psycopg":  # e.g. psycopg2 (what SQLAlchemy 2.0 takes `postgresql://` to mean)
        return f"[database] url names the driver {driver}, which is not installed: write postgresql+psycopg://…"
    return "[database] url is PostgreSQL, whose driver is not installed: pip install 'casework-hub[postgresql]'"


def _private_sqlite_file(url: str) -> None:
    """The database file made 0600 before SQLite opens it (SQLite would make it 0644 less the umask); its
    -wal and -shm files take the database's mode. A file an older version made is tightened."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    try:
        make_folder(path.parent)
        create_file(path)
    except OSError as error:
        raise UserError(f"cannot create the database {path}: {error.strerror}") from None
    for each in (path, path.with_name(f"{path.name}-wal"), path.with_name(f"{path.name}-shm")):
        tighten(each, FILE_MODE)


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    # WAL lets `hub status` read while the daemon writes; NORMAL keeps a commit durable across a
    # process crash (what the intake path relies on) without an fsync per message.
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_savepoint_locks_first(connection: Connection, _name: str) -> None:
    # A savepoint outside a transaction starts one (the driver begins a transaction only before a write), and the
    # work inside reads before it writes; but a transaction that has read cannot wait for SQLite's one write lock
    # (it answers "database is locked" at once, whatever the busy timeout). So it takes the lock first, waiting
    # its turn behind another writer as a plain write does.
    dbapi_connection = connection.connection.dbapi_connection
    if dbapi_connection is not None and not dbapi_connection.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def make_durable(sessions: sessionmaker[Session]) -> None:
    """Force every committed transaction onto disk, before a source lets go of the originals.

    Intake commits without waiting for the disk (see `skip_disk_wait`: a batch on PostgreSQL, each message
    on SQLite); this one wait after a batch makes it all durable. SQLite in WAL mode syncs the WAL before a checkpoint
    (sqlite.org/pragma.html#pragma_synchronous); on PostgreSQL a synchronous commit that writes a
    commit record flushes the WAL up to it, and so every earlier asynchronous commit.
    """
    engine = sessions.kw.get("bind")
    if not isinstance(engine, Engine):
        return
    with engine.begin() as connection:
        if engine.dialect.name == "sqlite":
            connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
        elif engine.dialect.name == "postgresql":
            connection.exec_driver_sql("SELECT txid_current()")  # assigns an xid: a real, synchronous commit


def skip_disk_wait(connection: Connection) -> None:
    """Commit this transaction without waiting for the disk; `make_durable` waits once per batch.

    A crash of the hub loses nothing either way; only a crash of the database server could lose the
    last commits, and the source still holds those messages because they are not acknowledged yet.
    SQLite (synchronous=NORMAL in WAL mode) behaves like this already.
    """
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL synchronous_commit = off")


def reserve_ids(connection: Connection, table: str, count: int) -> list[int]:
    """`count` ids from the sequence of `table` ("messages" or "cases"), in ascending order (PostgreSQL): the ids
    of rows inserted later, so that their insert need not return them."""
    return sorted(connection.execute(_RESERVE_IDS[table], {"count": count}).scalars())


def one_of(column: SQLCoreOperations[str], names: tuple[str, ...]) -> ColumnElement[bool]:
    """`column IN (names)` with the names written into the SQL, for a constant list in a statement sent for nearly
    every message: an IN of parameters is rewritten by SQLAlchemy on every execution (its "post-compile" step)."""
    return column.in_([literal_column("'" + name.replace("'", "''") + "'", String) for name in names])


_RESERVE_IDS = {table: text(f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, :count)")
                for table in ("messages", "cases")}


def is_outage(error: BaseException, engine: Engine) -> bool:
    """Whether an error means the database is unavailable now (stop, and try again later), rather than
    that it refused one statement for what it carried (too many variables, a value out of range): that
    is the fate of the message at hand, and the rest goes on."""
    if isinstance(error, TemporaryError | InterfaceError | DisconnectionError | PoolTimeout):
        return True
    if not isinstance(error, DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    if not isinstance(error, OperationalError):
        return False
    state = getattr(error.orig, "sqlstate", None)
    if isinstance(state, str) and state:
        return state[:2] in SERVER_TROUBLE
    if engine.dialect.name == "sqlite" and any(word in str(error.orig).lower() for word in SQLITE_TROUBLE):
        return True
    return not answers(engine)  # a refusal without a code (client-side limits): only the server can say


def is_busy(error: OperationalError) -> bool:
    """Whether SQLite refused a write because another writer held the file past the lock's timeout."""
    text = str(error.orig).lower()
    return "database is locked" in text or "database is busy" in text


def answers(engine: Engine) -> bool:
    """Whether the database answers a trivial query now."""
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
    except Exception:  # whatever stops a trivial query means the database is not there
        return False
    return True


def _alembic_config(engine: Engine) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig  # only when migrating: see hub.core.migrations.HEAD

    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine) -> None:
    """Bring the schema up to the newest migration (creating it on an empty database)."""
    from alembic import command

    command.upgrade(_alembic_config(engine), "head")


def schema_revision(engine: Engine) -> str | None:
    """The database's schema revision (Alembic's own version table, read directly); None without one."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        return None if revision is None else str(revision)


def is_current(engine: Engine) -> bool:
    """Whether the database's schema is at HEAD."""
    return schema_revision(engine) == HEAD


def schema_changed(engine: Engine) -> str | None:
    """For a process that opened the database at HEAD: why its schema no longer is (a newer hub upgraded it, an
    older backup was restored under it), in one line; None while it is."""
    revision = schema_revision(engine)
    return None if revision == HEAD else mismatch(engine, revision)


def connected_revision(engine: Engine, url: str) -> str | None:
    """`schema_revision`, or a one-line UserError when the database cannot be reached."""
    try:
        return schema_revision(engine)
    except OperationalError as error:
        reason = " ".join(str(error.orig).split("\n")[0].split())
        raise UserError(f"database {redact_url(url)}: cannot connect: {reason}") from None


def known_revisions(engine: Engine) -> list[str]:
    """This hub's revisions, newest first."""
    from alembic.script import ScriptDirectory

    return [script.revision for script in ScriptDirectory.from_config(_alembic_config(engine)).walk_revisions()]


def mismatch(engine: Engine, revision: str | None) -> str:
    """What to do about a database whose schema is `revision`, not HEAD: one line."""
    if revision is None:
        return "the database has no hub tables yet: run `hub db upgrade` to create them"
    if revision not in known_revisions(engine):
        return (f"the database is at schema {revision}, newer than this hub (which knows up to {HEAD}): a newer "
                "casework-hub has upgraded it; install that version again")
    return (f"the database is at schema {revision}, this hub needs {HEAD}: run `hub db upgrade` "
            "(after a backup: `hub backup PATH`)")


def open_database(url: str, pool: tuple[int, int] | None = None) -> Engine:
    """An engine for a database that is reachable and at HEAD, or a one-line UserError (a SchemaError for
    the schema) saying why not. It never migrates: an upgrade is the administrator's `hub db upgrade`."""
    engine = make_engine(url, pool)
    try:
        revision = connected_revision(engine, url)
        if revision != HEAD:
            raise SchemaError(mismatch(engine, revision))
    except BaseException:
        engine.dispose()
        raise
    return engine


def redact_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    if "://" in url and "@" in url.split("://", 1)[1]:
        scheme, rest = url.split("://", 1)
        credentials, host = rest.rsplit("@", 1)
        return f"{scheme}://{credentials.split(':', 1)[0]}@{host}"
    return url
