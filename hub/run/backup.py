"""`hub backup PATH`: the whole office in one file (0600), consistent while the daemon runs.

A gzipped tar of: `manifest.json` first (the hub's version, the schema revision, the time, whether the
reference secret is inside, and each entry's SHA-256 and size); `database/hub.db` (SQLite's online
backup API: one consistent snapshot, the daemon writing on beside it) or `database/hub.pgdump`
(`pg_dump --format=custom`); `config/hub.toml` and `config/agencies.toml`; `letters/` (the office's
letters folder); `var/`, the office's own state: the sent journal, which records what the mail server
took before the database's mark does, and whatever else the hub keeps there, taken after the database
so that a send it records is never older than the snapshot. Not the database's own files, and not the
Maildir folders [inbox] and [outbound] may name: the mail server keeps the real office's mail, and the
sent copies are filed on their cases.

The reference secret keys every reference's check code: a restore without it threads nothing. It is in
hub.toml, and so in the backup, unless `HUB_SECRET` overrides it; then, like the passwords in the
service's environment, it stays out and the backup says so (the manifest keeps a check of it alone,
so that a restore can tell the right one).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import make_url

from hub import __version__
from hub.core.config import Config
from hub.core.db import make_engine, schema_revision
from hub.core.errors import UserError
from hub.core.private_files import FILE_MODE, create_file

MANIFEST = "manifest.json"
FORMAT = 1
SQLITE_ENTRY, PGDUMP_ENTRY = "database/hub.db", "database/hub.pgdump"
NO_PG_DUMP = ("pg_dump is not installed: install the PostgreSQL client (apt-get install postgresql-client), or "
              "dump the database with your own pg_dump and copy config/, the letters folder and var/ beside it")


@dataclass(frozen=True)
class Backup:
    path: Path
    schema: str | None
    entries: int
    secret_included: bool


def secret_check(secret: str) -> str:
    """A check of the secret that does not give it away: enough to tell the right one at a restore."""
    return hashlib.sha256(b"casework-hub backup secret check\0" + secret.encode()).hexdigest()[:16]


def back_up(config: Config, path: Path, now: datetime) -> Backup:
    if path.exists():
        raise UserError(f"{path} already exists; not overwriting it (name each backup, e.g. by its date)")
    if not path.parent.is_dir():
        raise UserError(f"{path.parent} is not a folder")
    for folder in (config.resolve("var"), config.resolve(config.letters.folder)):
        if path.parent.resolve().is_relative_to(folder.resolve()):
            raise UserError(f"{path} is inside {folder}, which the next backup would copy: write it elsewhere")
    dialect = make_url(config.database_url).get_backend_name()
    if dialect == "postgresql" and shutil.which("pg_dump") is None:
        raise UserError(NO_PG_DUMP)
    # Beside the backup, not in /tmp: the copies are as large as the office, and stay the user's alone.
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".hub-backup-") as work:
        staged = Path(work)
        files: dict[str, Path] = {}
        if dialect == "sqlite":
            files[SQLITE_ENTRY] = _sqlite_copy(config, staged / "hub.db")
            schema = _sqlite_revision(files[SQLITE_ENTRY])
        else:
            schema = _revision(config.database_url)
            files[PGDUMP_ENTRY] = _pg_dump(config.database_url, staged / "hub.pgdump")
        files["config/hub.toml"] = config.path
        agencies = config.path.with_name("agencies.toml")
        if agencies.is_file():
            files["config/agencies.toml"] = agencies
        files.update(_folder("letters", config.resolve(config.letters.folder), set()))
        files.update(_folder("var", config.resolve("var"), _not_state(config)))
        from_environment = bool(os.environ.get("HUB_SECRET"))
        manifest = {"format": FORMAT, "hub_version": __version__, "schema": schema, "database": dialect,
                    "created_at": now.isoformat(), "secret": "HUB_SECRET" if from_environment else "hub.toml",
                    "secret_check": secret_check(config.office.secret), "files": {}}
        _write(path, staged, files, manifest)
    return Backup(path, schema, len(files), not from_environment)


def _sqlite_copy(config: Config, copy: Path) -> Path:
    database = make_url(config.database_url).database
    if not database or not Path(database).is_file():
        raise UserError(f"the database {database or config.database_url} is not there")
    create_file(copy)
    source = sqlite3.connect(database, timeout=30)
    target = sqlite3.connect(copy)
    try:
        source.backup(target)  # all pages in one step: one read transaction, so one consistent snapshot
    finally:
        target.close()
        source.close()
    return copy


def _sqlite_revision(copy: Path) -> str | None:
    return _revision(f"sqlite:///{copy}")


def _revision(url: str) -> str | None:
    engine = make_engine(url)
    try:
        return schema_revision(engine)
    finally:
        engine.dispose()


def libpq(url: str) -> tuple[str, dict[str, str]]:
    """The URL as the PostgreSQL tools take it, without its password, and their environment with it
    (PGPASSWORD: an argument would show in `ps`)."""
    parsed = make_url(url)
    environment = dict(os.environ)
    if parsed.password:
        environment["PGPASSWORD"] = str(parsed.password)
    plain = parsed.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), environment


def run_tool(command: list[str], environment: dict[str, str], what: str) -> None:
    done = subprocess.run(command, env=environment, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise UserError(f"{what} failed: {lines[0] if lines else f'exit {done.returncode}'}")


def _pg_dump(url: str, dump: Path) -> Path:
    uri, environment = libpq(url)
    create_file(dump)
    run_tool(["pg_dump", "--format=custom", "--no-owner", "--no-privileges", f"--file={dump}", f"--dbname={uri}"],
             environment, "pg_dump")
    return dump


def _not_state(config: Config) -> set[Path]:
    """What var/ holds that the backup leaves out: the SQLite files (copied by the online backup) and Maildirs."""
    left = set()
    if config.database_url.startswith("sqlite"):
        database = Path(make_url(config.database_url).database or "")
        left |= {database, *(database.with_name(database.name + end) for end in ("-wal", "-shm", "-journal"))}
    for url in (config.inbox.url, config.outbound.url):
        if url.startswith("maildir:"):
            left.add(config.resolve(url[len("maildir:"):]))
    return {path.resolve() for path in left}


def _folder(name: str, folder: Path, left_out: set[Path]) -> dict[str, Path]:
    found: dict[str, Path] = {}
    if not folder.is_dir():
        return found
    for root, folders, names in os.walk(folder):
        folders[:] = sorted(each for each in folders if (Path(root) / each).resolve() not in left_out)
        for each in sorted(names):
            path = Path(root) / each
            if path.is_file() and not path.is_symlink() and path.resolve() not in left_out:
                found[f"{name}/{path.relative_to(folder).as_posix()}"] = path
    return found


def _write(path: Path, staged: Path, files: dict[str, Path], manifest: dict[str, object]) -> None:
    """The archive, written beside `path` and renamed into place whole."""
    copies: dict[str, Path] = {}
    for number, (entry, source) in enumerate(files.items()):
        if source.is_relative_to(staged):
            copies[entry] = source
            continue
        copy = staged / f"file-{number}"  # a file the daemon may append to is hashed and archived as one copy
        try:
            shutil.copyfile(source, copy)
        except FileNotFoundError:  # gone since the walk (a journal emptied, say): nothing to keep
            continue
        copies[entry] = copy
    manifest["files"] = {entry: {"sha256": _sha256(copy), "bytes": copy.stat().st_size}
                         for entry, copy in copies.items()}
    partial = staged / "backup.tar.gz"
    create_file(partial)
    with tarfile.open(partial, "w:gz") as archive:
        data = json.dumps(manifest, indent=2).encode()
        _add(archive, MANIFEST, data=data)
        for entry, copy in copies.items():
            _add(archive, entry, copy)
    with open(partial, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(partial, path)


def _add(archive: tarfile.TarFile, entry: str, source: Path | None = None, data: bytes | None = None) -> None:
    info = tarfile.TarInfo(entry)
    info.mode, info.mtime = FILE_MODE, int(time.time())
    if source is not None:
        info.size = source.stat().st_size
        with open(source, "rb") as handle:
            archive.addfile(info, handle)
        return
    assert data is not None
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
