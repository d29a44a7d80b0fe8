"""Typed values out of a TOML file's tables, and the keys nobody asked for.

Each `Table` remembers the keys its getters were asked for and the sub-tables handed out. Once a file's
settings are built, `reject_unknown()` turns any key or section no getter ever asked for into a
ConfigError naming the file, the key and the closest known key: a misspelt `[outbond]` or `busines_days`
would otherwise be silently ignored and the default used. What is known is what the loader reads, so a
key added to the loader is known without a second list; a key read only in some setups is declared.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from pathlib import Path
from typing import Any

from hub.core.errors import ConfigError

ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")


class Table:
    """Reads typed values out of one TOML table, naming file and key in every complaint."""

    def __init__(self, data: dict[str, Any], file: Path, name: str) -> None:
        self.data, self.file, self.name = data, file, name
        self.known: set[str] = set()
        self.tables_given: dict[str, Table] = {}
        self.arrays_given: dict[str, list[Table]] = {}

    def fail(self, key: str, problem: str) -> ConfigError:
        where = f"[{self.name}] {key}" if self.name else key
        return ConfigError(f"{self.file}: {where}: {problem}")

    def declare(self, *keys: str) -> None:
        """Keys read only in some setups (or by code of its own) that are nonetheless settings here."""
        self.known.update(keys)

    def has(self, key: str) -> bool:
        self.known.add(key)
        return key in self.data

    def get(self, key: str, kind: type, default: Any = ...) -> Any:
        self.known.add(key)
        if key not in self.data:
            if default is ...:
                raise self.fail(key, "missing" + self._misspelt(key))
            return default
        value = self.data[key]
        if kind is int and isinstance(value, bool) or not isinstance(value, kind):
            raise self.fail(key, f"expected {kind.__name__}, got {type(value).__name__} {value!r}")
        return value

    def text(self, key: str, default: Any = ...) -> str:
        return self.get(key, str, default)

    def positive(self, key: str, default: int) -> int:
        value = self.get(key, int, default)
        if value <= 0:
            raise self.fail(key, f"must be a positive number, got {value}")
        return value

    def not_negative(self, key: str, default: int = 0) -> int:
        value = self.get(key, int, default)
        if value < 0:
            raise self.fail(key, f"must be 0 or more, got {value}")
        return int(value)

    def address(self, key: str, default: Any = ...) -> str:
        value = self.text(key, default)
        if value and not ADDRESS.match(value):
            raise self.fail(key, f"not an email address: {value!r}")
        return value.lower() if value else value

    def table(self, key: str) -> Table:
        """The sub-table `[name.key]`, empty when absent; the same object each time it is asked for."""
        self.known.add(key)
        if key not in self.tables_given:
            value = self.data.get(key, {})
            if not isinstance(value, dict):
                raise self.fail(key, "expected a table")
            self.tables_given[key] = Table(value, self.file, self._path(key))
        return self.tables_given[key]

    def tables(self, key: str) -> list[Table]:
        """An array of tables such as [[staff]], each named `key #N` in complaints."""
        self.known.add(key)
        if key not in self.arrays_given:
            entries = self.data.get(key, [])
            if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
                raise self.fail(key, f"expected [[{key}]] tables")
            self.arrays_given[key] = [Table(entry, self.file, f"{key} #{number}")
                                      for number, entry in enumerate(entries, start=1)]
        return self.arrays_given[key]

    def entries(self) -> dict[str, Any]:
        """The whole table, for one whose keys are names the office chooses (weekdays, agency keys)."""
        self.known.update(self.data)
        return self.data

    def reject_unknown(self) -> None:
        """Raise for the first key or section in this table, or any table handed out, that nobody read."""
        for key, value in self.data.items():
            if key not in self.known:
                raise self._unknown(key, value)
        for child in self.tables_given.values():
            child.reject_unknown()
        for entries in self.arrays_given.values():
            for entry in entries:
                entry.reject_unknown()

    def _unknown(self, key: str, value: Any) -> ConfigError:
        close = difflib.get_close_matches(key.lower(), self.known, n=1)
        if close:
            hint = f", did you mean {self._spelt(close[0])}?"
        else:
            hint = f" (known: {', '.join(self._spelt(name) for name in sorted(self.known))})"
        if isinstance(value, dict):
            return ConfigError(f"{self.file}: [{self._path(key)}]: unknown section{hint}")
        if isinstance(value, list) and value and all(isinstance(entry, dict) for entry in value):
            return ConfigError(f"{self.file}: [[{self._path(key)}]]: unknown section{hint}")
        return self.fail(key, f"unknown key{hint}")

    def _spelt(self, key: str) -> str:
        """A known key as the file writes it: `[[staff]]`, `[assignment.weekdays]` or a plain key."""
        if key in self.arrays_given:
            return f"[[{self._path(key)}]]"
        return f"[{self._path(key)}]" if key in self.tables_given else key

    def _path(self, key: str) -> str:
        return f"{self.name}.{key}" if self.name else key

    def _misspelt(self, key: str) -> str:
        unread = [name for name in self.data if name not in self.known]
        close = difflib.get_close_matches(key, unread, n=1, cutoff=0.75)
        return f" (is {close[0]} meant to be {key}?)" if close else ""


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such configuration file (run `hub init DIR` to make one)") from None
    except PermissionError:
        raise ConfigError(f"{path}: not readable by this user") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
