"""What every command shares: the office it opens (--config, then $HUB_CONFIG, then config/hub.toml),
its exit codes, and the JSON and table printing of cases."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from hub.core.app import Hub, config_path, open_hub
from hub.core.clock import FixedClock

EXIT_ERROR, EXIT_USAGE, EXIT_TEMPORARY = 1, 2, 75
# The database's schema is not this hub's (sysexits' EX_CONFIG): a unit can stop restarting on it.
EXIT_SCHEMA = 78


def with_hub(args: argparse.Namespace, work: Callable[[Hub], Any], clock: FixedClock | None = None) -> Any:
    hub = open_hub(config_path(args.config), clock)
    try:
        return work(hub)
    finally:
        hub.close()


def print_json(value: Any) -> None:
    json.dump(value, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")


def print_case_table(cases: list[dict[str, Any]]) -> None:
    if not cases:
        print("no cases")
        return
    for view in cases:
        person = view["constituent"]
        messages = view.get("message_count")
        count = "" if messages is None else f"  ({messages} message{'' if messages == 1 else 's'})"
        print(f"{view['ref']:<16} {view['status']:<10} {(person['name'] or person['email'] or '-')[:24]:<24} "
              f"{view['subject'][:60]}{count}")
