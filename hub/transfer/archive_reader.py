"""An export archive from a source that may be careless or hostile, read safely.

Names inside the ZIP are never used as paths: entries are read into memory by the names the manifest lists,
each only after its declared size passed a limit, and read in a bounded way (a small entry that inflates to
gigabytes stops at the limit). Every entry read is checked against the manifest's size and SHA-256; one that
fails raises `Damaged`, and the case it belongs to is not imported.
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
import zlib
from pathlib import Path
from typing import Any

from hub.core.errors import UserError
from hub.transfer.archive_format import FORMAT, MANIFEST, VERSION

MAX_MANIFEST_BYTES = 64 * 2**20
MAX_JSON_BYTES = 256 * 2**20  # one case's messages.json: every message's fields and text
MAX_ENTRY_BYTES = 1 * 2**30  # one message's bytes, or one file
MAX_ENTRIES = 5_000_000
_NAME = re.compile(r"^cases/[A-Za-z0-9._-]{1,40}/[A-Za-z0-9._/-]{1,140}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class ArchiveError(UserError):
    """The archive as a whole cannot be read: nothing is imported."""


class Damaged(Exception):
    """One entry (and so the case it belongs to) cannot be trusted."""


class Archive:
    def __init__(self, path: Path) -> None:
        try:
            self._zip = zipfile.ZipFile(path)
        except FileNotFoundError:
            raise ArchiveError(f"no file {path}") from None
        except (zipfile.BadZipFile, OSError, ValueError) as error:
            raise ArchiveError(f"{path} is not a readable ZIP archive ({error})") from None
        try:
            self.manifest, self.files = self._read_manifest(path)
        except BaseException:
            self._zip.close()
            raise

    def close(self) -> None:
        self._zip.close()

    def _read_manifest(self, path: Path) -> tuple[dict[str, Any], dict[str, tuple[int, str]]]:
        names = self._zip.namelist()
        if len(names) > MAX_ENTRIES or len(set(names)) != len(names):
            raise ArchiveError(f"{path}: {'too many entries' if len(names) > MAX_ENTRIES else 'an entry twice'}")
        try:
            manifest = json.loads(self._bounded(MANIFEST, MAX_MANIFEST_BYTES))
        except (Damaged, ValueError) as error:
            raise ArchiveError(f"{path}: no readable {MANIFEST} ({error})") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise ArchiveError(f"{path} is not a casework-hub export (its {MANIFEST} names no format {FORMAT!r})")
        if manifest.get("version") != VERSION:
            raise ArchiveError(f"{path} is an export of format version {manifest.get('version')!r}; this hub reads "
                               f"version {VERSION}")
        files, cases = manifest.get("files"), manifest.get("cases")
        if not isinstance(files, dict) or not isinstance(cases, list) or not all(
                isinstance(c, dict) and isinstance(c.get("ref"), str) and isinstance(c.get("folder"), str)
                for c in cases):
            raise ArchiveError(f"{path}: its {MANIFEST} lists no cases and files")
        checked: dict[str, tuple[int, str]] = {}
        for name, spec in files.items():
            if isinstance(spec, dict) and _NAME.match(name) and ".." not in name.split("/") and \
                    isinstance(spec.get("size"), int) and spec["size"] >= 0 and \
                    isinstance(spec.get("sha256"), str) and _SHA256.match(spec["sha256"]):
                checked[name] = (spec["size"], spec["sha256"])
        return manifest, checked

    def read(self, name: str, limit: int | None = None) -> bytes:
        """The entry's bytes, checked against the manifest; Damaged when they do not match or are too big."""
        limit = MAX_ENTRY_BYTES if limit is None else limit
        if name not in self.files:
            raise Damaged(f"{name} is not in the manifest (or its size or checksum is unreadable)")
        size, digest = self.files[name]
        if size > limit:
            raise Damaged(f"{name} is {size:,} bytes, over the limit of {limit:,}")
        data = self._bounded(name, limit)
        if len(data) != size or hashlib.sha256(data).hexdigest() != digest:
            raise Damaged(f"checksum mismatch on {name}")
        return data

    def json(self, name: str) -> Any:
        try:
            return json.loads(self.read(name, MAX_JSON_BYTES))
        except ValueError as error:
            raise Damaged(f"{name} is not JSON ({error})") from None

    def _bounded(self, name: str, limit: int) -> bytes:
        try:
            info = self._zip.getinfo(name)
        except KeyError:
            raise Damaged(f"{name} is missing from the archive") from None
        if info.file_size > limit:
            raise Damaged(f"{name} declares {info.file_size:,} bytes, over the limit of {limit:,}")
        try:
            with self._zip.open(info) as entry:
                data = entry.read(limit + 1)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError) as error:
            raise Damaged(f"{name} cannot be read ({error})") from None
        if len(data) > limit:
            raise Damaged(f"{name} inflates past the limit of {limit:,} bytes")
        return data
