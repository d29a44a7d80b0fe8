"""`hub restore PATH --into DIR`: a backup (hub.run.backup) made into a working office folder again.

Every entry is checked against the manifest's SHA-256 before anything is written: a damaged backup is
one line and nothing more. DIR must be new or empty, a SQLite database and a letters folder the restored
configuration names outside DIR must not be there yet, and a PostgreSQL database must be empty (the one
the configuration names, or `database_url`; pg_restore runs in one transaction): nothing is overwritten,
and the files a failed restore made are taken away again.

Nothing twice: a letter or text that was waiting at the backup may have gone after it, before the disk
was lost. Each is put in doubt, as a letter whose sender died is (hub.delivery.in_doubt): a letter is
looked for by its Message-ID in the office's Sent folder before it goes, a text is asked of Twilio.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from sqlalchemy import inspect, make_url, text

from hub.core import config as config_module
from hub.core.db import make_engine, redact_url
from hub.core.errors import UserError
from hub.core.private_files import FILE_MODE, make_folder, write_file
from hub.delivery.in_doubt import IN_DOUBT
from hub.delivery.sms import SENDING
from hub.run.backup import FORMAT, MANIFEST, PGDUMP_ENTRY, SQLITE_ENTRY, libpq, run_tool, secret_check

ENTRY = re.compile(r"(database/hub\.(db|pgdump)|config/(hub|agencies)\.toml|(letters|var)/[^\0]+)")
_DAMAGED = (tarfile.TarError, EOFError, zlib.error, OSError, ValueError, KeyError, TypeError)


@dataclass(frozen=True)
class Restored:
    config: Path
    manifest: dict[str, Any]
    database_url: str
    in_doubt: int  # letters and texts that were waiting at the backup


def restore(archive: Path, into: Path, database_url: str | None = None) -> Restored:
    manifest = checked_manifest(archive)
    if into.exists() and (not into.is_dir() or any(into.iterdir())):
        raise UserError(f"{into} is not an empty folder; a restore makes a new office folder and overwrites nothing")
    new_folder = not into.exists()
    made: list[Path] = []  # outside DIR
    try:
        make_folder(into / "config")
        config = _restored_config(archive, into, database_url)
        _check_secret(manifest, config.office.secret)
        letters = config.resolve(config.letters.folder)
        _must_be_new(letters, made, into)
        if manifest["database"] != make_url(config.database_url).get_backend_name():
            raise UserError(f"the backup holds a {manifest['database']} database, the configuration names "
                            f"{redact_url(config.database_url)}: give --database-url")
        _unpack(archive, into, letters, config, made)
        in_doubt = _put_in_doubt(config.database_url)
    except BaseException:
        for path in [*made, *([into] if new_folder else into.iterdir())]:
            _remove(path)
        raise
    return Restored(config.path, manifest, config.database_url, in_doubt)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def checked_manifest(archive: Path) -> dict[str, Any]:
    """The manifest, once every entry matches it; a one-line UserError for anything else."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            first = tar.next()
            if first is None or first.name != MANIFEST or (handle := tar.extractfile(first)) is None:
                raise UserError(f"{archive} is not a hub backup (no manifest)")
            manifest = json.loads(handle.read())
            if manifest.get("format") != FORMAT:
                raise UserError(f"{archive}: a backup of format {manifest.get('format')!r}; this hub reads {FORMAT}")
            expected: dict[str, dict[str, Any]] = manifest["files"]
            seen = set()
            for member in tar:
                if member is first:
                    continue
                listed = expected.get(member.name)
                if listed is None or not member.isfile() or not _safe(member.name):
                    raise UserError(f"{archive} is damaged: {member.name!r} is not in its manifest; nothing restored")
                source = tar.extractfile(member)
                if source is None or _digest(source) != (listed["sha256"], listed["bytes"]):
                    raise UserError(f"{archive} is damaged: {member.name} does not match its checksum; nothing "
                                    "restored")
                seen.add(member.name)
    except FileNotFoundError:
        raise UserError(f"{archive}: no such file") from None
    except _DAMAGED as error:
        raise UserError(f"{archive} is damaged or not a hub backup ({type(error).__name__}); nothing restored") \
            from None
    if missing := sorted(set(expected) - seen):
        raise UserError(f"{archive} is damaged: {missing[0]} is missing; nothing restored")
    return manifest


def _safe(name: str) -> bool:
    return ENTRY.fullmatch(name) is not None and ".." not in name.split("/") and "//" not in name


def _digest(source: IO[bytes]) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    while chunk := source.read(1 << 20):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def _restored_config(archive: Path, into: Path, database_url: str | None) -> config_module.Config:
    with tarfile.open(archive, "r:gz") as tar:
        for name in ("config/hub.toml", "config/agencies.toml"):
            try:
                handle = tar.extractfile(name)
            except KeyError:
                continue
            if handle is not None:
                data = handle.read().decode()
                if name == "config/hub.toml" and database_url:
                    data = with_database_url(data, database_url)
                write_file(into / name, data)
    return config_module.load(into / "config" / "hub.toml")


def with_database_url(config: str, url: str) -> str:
    """hub.toml with [database] url set to `url`."""
    value = json.dumps(url)  # a TOML basic string
    table = re.search(r"(?m)^\[database\][ \t]*(#.*)?$", config)
    if table is None:
        return f"{config.rstrip()}\n\n[database]\nurl = {value}\n"
    end = re.search(r"(?m)^\[", config[table.end():])
    body_end = table.end() + (end.start() if end else len(config[table.end():]))
    body = config[table.end():body_end]
    if re.search(r"(?m)^url[ \t]*=.*$", body):
        body = re.sub(r"(?m)^url[ \t]*=.*$", lambda _: f"url = {value}", body, count=1)
    else:
        body = f"\nurl = {value}{body}"
    return config[:table.end()] + body + config[body_end:]


def _check_secret(manifest: dict[str, Any], secret: str) -> None:
    if secret_check(secret) == manifest["secret_check"]:
        return
    if manifest["secret"] == "HUB_SECRET":
        raise UserError("the office took its reference secret from HUB_SECRET, and the backup does not hold it: set "
                        "HUB_SECRET to that secret and restore again (another secret breaks every reference)")
    raise UserError("HUB_SECRET is set to another secret than the backup's hub.toml holds: unset it, or set it to "
                    "the office's own, and restore again")


def _must_be_new(path: Path, made: list[Path], into: Path) -> None:
    if path.is_relative_to(into):
        return
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise UserError(f"{path} (named by the restored configuration) is already there; not overwriting it")
    if not path.exists():
        made.append(path)


def _unpack(archive: Path, into: Path, letters: Path, config: config_module.Config, made: list[Path]) -> None:
    url = config.database_url
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar:
            source = tar.extractfile(member)
            if source is None or member.name in (MANIFEST, "config/hub.toml", "config/agencies.toml"):
                continue
            if member.name == SQLITE_ENTRY:
                target = Path(make_url(url).database or "")
                _must_be_new(target, made, into)
                _copy(source, target)
            elif member.name == PGDUMP_ENTRY:
                dump = into / "var" / ".restore.pgdump"
                _copy(source, dump)
                try:
                    _pg_restore(url, dump)
                finally:
                    dump.unlink()
            else:
                head, rest = member.name.split("/", 1)
                _copy(source, (letters if head == "letters" else into / "var") / rest)


def _copy(source: IO[bytes], target: Path) -> None:
    make_folder(target.parent)
    with open(target, "xb") as handle:  # never over a file that is there
        target.chmod(FILE_MODE)
        shutil.copyfileobj(source, handle, 1 << 20)


def _pg_restore(url: str, dump: Path) -> None:
    if shutil.which("pg_restore") is None:
        raise UserError("pg_restore is not installed: install the PostgreSQL client (apt-get install "
                        "postgresql-client) and restore again")
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            if inspect(connection).get_table_names():
                raise UserError(f"the database {redact_url(url)} already holds tables; restore into an empty "
                                "database (createdb one, or give --database-url)")
    finally:
        engine.dispose()
    uri, environment = libpq(url)
    run_tool(["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
              f"--dbname={uri}", str(dump)], environment, "pg_restore")


def _put_in_doubt(url: str) -> int:
    """Letters and texts that were waiting at the backup: in doubt, claimable at once; how many."""
    engine = make_engine(url)
    waiting = "state IN ('pending', 'sending')"
    reset = "state = 'pending', lease_until = NULL, lease_owner = NULL"
    try:
        with engine.begin() as connection:
            letters = connection.execute(text(f"UPDATE outbox SET provider_id = :doubt, {reset} "
                                              f"WHERE {waiting} AND channel <> 'sms'"), {"doubt": IN_DOUBT}).rowcount
            texts = connection.execute(text(f"UPDATE outbox SET provider_id = :doubt, {reset} "
                                            f"WHERE {waiting} AND channel = 'sms'"), {"doubt": SENDING}).rowcount
    finally:
        engine.dispose()
    return int(letters) + int(texts)
