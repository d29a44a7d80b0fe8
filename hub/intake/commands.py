"""Caseworker commands: `#name argument` lines at the top of a staff message's new text.

Parsing only, no effects: `route` decides what the commands mean for the case. The registry holds
each command's one-line help; a later stage adds commands to it. A line that does not look like a
command (`#1 priority`) ends the block and is text; a command the registry does not know is an
error, and a message with an error relays nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

COMMAND_LINE = re.compile(r"^#([a-z][a-z-]*)(?:\s+(.*))?$", re.IGNORECASE)

REGISTRY: dict[str, str] = {
    "to": "#to constituent | #to agency | #to AGENCY-KEY: send this reply there instead of to the constituent",
    "note": "#note [text]: keep the message on the case as an internal note; nothing is sent",
}


@dataclass(frozen=True)
class Command:
    name: str
    argument: str


@dataclass(frozen=True)
class CommandBlock:
    commands: tuple[Command, ...]
    text: str                      # what follows the commands
    errors: tuple[str, ...] = ()

    def first(self, name: str) -> Command | None:
        return next((command for command in self.commands if command.name == name), None)


def parse_commands(text: str) -> CommandBlock:
    lines = (text or "").strip().splitlines()
    commands: list[Command] = []
    errors: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index].strip()
        match = COMMAND_LINE.match(line)
        if not line:
            index += 1
            continue
        if match is None:
            break
        name, argument = match.group(1).lower(), (match.group(2) or "").strip()
        if name in REGISTRY:
            commands.append(Command(name, argument))
        else:
            errors.append(f"#{name}: unknown command (known: {', '.join('#' + n for n in REGISTRY)})")
        index += 1
    return CommandBlock(tuple(commands), "\n".join(lines[index:]).strip(), tuple(errors))
