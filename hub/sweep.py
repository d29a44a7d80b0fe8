"""The reminder sweep: due reminder rows become letters and notices in the outbox (filled in below)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from hub.app import Hub


@dataclass
class SweepReport:
    counts: Counter[str] = field(default_factory=Counter)

    def line(self) -> str:
        parts = [f"{n} {what}" for what, n in sorted(self.counts.items())]
        return "reminders: " + (", ".join(parts) if parts else "nothing due")


def sweep_due(hub: Hub) -> SweepReport:
    """Turn every reminder due now into its letters and notices, in the outbox; one commit per batch."""
    return SweepReport()
