"""The office's [urgency] table: which kinds of urgency intake looks for, and how near a date must be."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

KINDS = ("abroad", "travel", "eviction", "benefits", "deadline")


@dataclass(frozen=True)
class UrgencyRules:
    travel_days: int = 14  # passport/visa with travel within this many days is urgent
    life_or_death_hours: int = 72  # travel within this many hours: the reason says so
    eviction_days: int = 30  # eviction or foreclosure date within this many days
    deadline_days: int = 7  # "deadline" (any topic) with a date within this many days
    enabled: tuple[str, ...] = ("travel", "abroad", "eviction", "benefits", "deadline")

    @classmethod
    def from_table(cls, table: Mapping[str, Any]) -> UrgencyRules:
        """The rules from a TOML [urgency] table; keys left out keep their defaults."""
        known = {field.name for field in fields(cls)}
        values: dict[str, Any] = {}
        for key, value in table.items():
            if key not in known:
                raise ValueError(f"[urgency] {key}: unknown key (known: {', '.join(sorted(known))})")
            if key == "enabled":
                if not isinstance(value, list | tuple) or not all(isinstance(kind, str) for kind in value):
                    raise ValueError(f"[urgency] enabled: expected a list of kinds, got {value!r}")
                unknown = [kind for kind in value if kind not in KINDS]
                if unknown:
                    raise ValueError(f"[urgency] enabled: unknown kind {unknown[0]!r} (known: {', '.join(KINDS)})")
                values[key] = tuple(value)
            elif not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"[urgency] {key}: expected int, got {type(value).__name__} {value!r}")
            elif value < 0:
                raise ValueError(f"[urgency] {key}: must not be negative, got {value}")
            else:
                values[key] = value
        return cls(**values)


DEFAULT_RULES = UrgencyRules()
