"""What this process did, counted in memory for the metrics (hub.run.metrics) where the database keeps no
count: messages by fate, OAuth 2.0 token failures. Like Prometheus counters they start at zero with the
process and only grow; any thread may add.
"""

from __future__ import annotations

import threading
from collections import Counter

MESSAGES = "messages"          # by fate: new-case, case, command, triage, duplicate, quarantine
TOKEN_FAILURES = "token_failures"  # by kind: unavailable (asked again), refused

_lock = threading.Lock()
_counts: Counter[tuple[str, str]] = Counter()


def add(name: str, label: str, amount: int = 1) -> None:
    with _lock:
        _counts[(name, label)] += amount


def counts(name: str) -> dict[str, int]:
    """The labels of `name` and their counts so far."""
    with _lock:
        return {label: count for (kind, label), count in _counts.items() if kind == name}
