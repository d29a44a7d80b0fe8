"""A deployment file: the offices one host serves, and which worker process runs each.

    [[office]]
    name = "doe"                          # letters, digits, '.', '_' and '-'; unique; in every log line
    config = "doe/config/hub.toml"        # the office's own hub.toml, relative to this file's folder

Each office keeps its own folder, configuration, letters, secret and database (on a shared PostgreSQL
server, one database per office). With `--worker K/N` a process runs the offices whose stable hash of the
name, modulo N, is K-1: the same on every machine and after every restart, so N processes on any number of
machines split one file between them without talking to each other. The file is read as strictly as
hub.toml: a misspelt key is a one-line error.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from hub.core.config_table import Table, read_toml
from hub.core.errors import ConfigError, UserError

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class OfficeEntry:
    name: str
    config: Path  # the office's hub.toml


@dataclass(frozen=True)
class Worker:
    """Worker `index` of `count` (1-based, as written: --worker 2/4)."""

    index: int = 1
    count: int = 1

    @classmethod
    def parse(cls, text: str) -> Worker:
        found = re.fullmatch(r"(\d+)/(\d+)", text.strip())
        if not found or not 1 <= int(found[1]) <= int(found[2]):
            raise UserError(f"--worker {text!r}: expected K/N with 1 <= K <= N, e.g. 2/4")
        return cls(int(found[1]), int(found[2]))

    def runs(self, office: str) -> bool:
        return worker_of(office, self.count) == self.index


def worker_of(office: str, count: int) -> int:
    """The worker (1..count) that runs the office named `office`: SHA-256 of the name, not Python's hash(),
    which changes from one process to the next."""
    return int.from_bytes(hashlib.sha256(office.encode()).digest()[:8], "big") % count + 1


@dataclass(frozen=True)
class Deployment:
    path: Path
    offices: tuple[OfficeEntry, ...]

    def assigned(self, worker: Worker) -> list[OfficeEntry]:
        return [office for office in self.offices if worker.runs(office.name)]


def load_deployment(path: Path) -> Deployment:
    """Read and check the deployment file at `path`, or raise a one-line ConfigError."""
    root = Table(read_toml(path), path, "")
    offices: list[OfficeEntry] = []
    names: set[str] = set()
    configs: dict[Path, str] = {}
    for table in root.tables("office"):
        name = table.text("name")
        if not NAME.match(name):
            raise table.fail("name", f"{name!r}: letters, digits, '.', '_' and '-' (at most 64), starting with "
                             "a letter or digit")
        if name in names:
            raise table.fail("name", f"{name!r} is named twice")
        config = table.text("config")
        if not config:
            raise table.fail("config", "empty: the path of the office's hub.toml")
        where = (path.parent / config).resolve()
        if where in configs:
            raise table.fail("config", f"{config} is office {configs[where]!r}'s too: each office keeps its own "
                             "configuration, secret and database")
        names.add(name)
        configs[where] = name
        offices.append(OfficeEntry(name, where))
    root.reject_unknown()
    if not offices:
        raise ConfigError(f"{path}: no [[office]]: list each office with its name and config")
    return Deployment(path, tuple(offices))
