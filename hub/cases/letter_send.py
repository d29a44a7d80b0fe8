"""Letters a person asks for on the command line: one filled in for a case, shown or queued.

A queued letter is rendered now and kept on its outbox row, so what was previewed is what goes out.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from hub.cases.casework import Actor
from hub.cases.letter_queue import address, queue_letter
from hub.cases.views import find_case
from hub.core.app import Hub
from hub.core.errors import ConfigError
from hub.core.models import Case
from hub.letters.context import case_context
from hub.letters.templates import Letter, Letters, sample_context


def letters_of(hub: Hub) -> Letters:
    return Letters(hub.config.resolve(hub.config.letters.folder))


def letter_problems(hub: Hub) -> list[str]:
    """Every letter (packaged and the office's own) rendered against a sample case; one line per problem."""
    sms = hub.config.sms
    return letters_of(hub).check_all(sample_context(hub.config), sms.max_segments if sms else 3)


def check_letters(hub: Hub) -> None:
    """Refuse to start with a letter that cannot be filled in: nothing would be sent from it."""
    problems = letter_problems(hub)
    if problems:
        more = f" (and {len(problems) - 1} more: hub letter check)" if len(problems) > 1 else ""
        raise ConfigError(f"{problems[0]}{more}")


def preview(hub: Hub, name: str, ref: str | None, to: str | None, channel: str = "email") -> tuple[Letter, str]:
    """The letter filled in for the case (in the channel the case uses), or for a sample case in
    `channel`, and who it would go to."""
    letters = letters_of(hub)
    if ref is None:
        return letters.render(name, sample_context(hub.config, name), channel), to or "(the sample constituent)"
    with hub.sessions() as session:
        case = find_case(session, hub.refs, ref)
        addressed = address(session, hub.config, case, name, to, letters)
        return letters.render(name, _context(session, hub, case, name), addressed.channel), addressed.recipient


def send(hub: Hub, name: str, ref: str, to: str | None, force: bool, actor: str = "cli") -> tuple[int, str]:
    """Queue the letter for the case; returns the outbox row and the recipient. Delivered by the next cycle."""
    with hub.sessions.begin() as session:
        case = find_case(session, hub.refs, ref)
        return queue_letter(session, hub.config, hub.refs, letters_of(hub), case, name, to, force,
                            Actor(actor, "cli"), hub.clock.now())


def _context(session: Session, hub: Hub, case: Case, name: str) -> dict[str, Any]:
    return case_context(session, hub.config, case, hub.clock.now(), {"letter": name})
