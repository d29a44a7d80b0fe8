"""Letters a person asks for on the command line: one filled in for a case, shown or queued.

A queued letter is rendered now and kept on its outbox row, so what was previewed is what goes out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hub.app import Hub
from hub.config import ADDRESS, Agency, Config
from hub.errors import ConfigError, UserError
from hub.letter_context import case_context
from hub.letters import Letter, Letters, sample_context
from hub.models import Case, Event, Outbox
from hub.outbox import enqueue
from hub.views import find_case

AGENCY_LETTERS = ("agency-inquiry", "agency-followup")


@dataclass(frozen=True)
class Addressed:
    recipient: str
    agency: Agency | None  # the directory agency the recipient belongs to


def letters_of(hub: Hub) -> Letters:
    return Letters(hub.config.resolve(hub.config.letters.folder))


def letter_problems(hub: Hub) -> list[str]:
    """Every letter (packaged and the office's own) rendered against a sample case; one line per problem."""
    return letters_of(hub).check_all(sample_context(hub.config))


def check_letters(hub: Hub) -> None:
    """Refuse to start with a letter that cannot be filled in: nothing would be sent from it."""
    problems = letter_problems(hub)
    if problems:
        more = f" (and {len(problems) - 1} more: hub letter check)" if len(problems) > 1 else ""
        raise ConfigError(f"{problems[0]}{more}")


def preview(hub: Hub, name: str, ref: str | None, to: str | None) -> tuple[Letter, str]:
    """The letter filled in for the case (or for a sample case), and who it would go to."""
    letters = letters_of(hub)
    if ref is None:
        return letters.render(name, sample_context(hub.config, name)), to or "(the sample constituent)"
    with hub.sessions() as session:
        case = find_case(session, hub.refs, ref)
        addressed = address(hub.config, case, name, to)
        return letters.render(name, _context(session, hub, case, name)), addressed.recipient


def send(hub: Hub, name: str, ref: str, to: str | None, force: bool, actor: str = "cli") -> tuple[int, str]:
    """Queue the letter for the case; returns the outbox row and the recipient. Delivered by the next cycle."""
    letters = letters_of(hub)
    now = hub.clock.now()
    with hub.sessions.begin() as session:
        case = find_case(session, hub.refs, ref)
        addressed = address(hub.config, case, name, to)
        if not force:
            earlier = session.scalar(select(Outbox.state).where(
                Outbox.case_id == case.id, Outbox.letter == name, Outbox.state.in_(("pending", "sending", "sent"))))
            if earlier:
                raise UserError(f"{name} is already {earlier} on {case.ref}; --force sends it again")
        if addressed.agency is not None and case.agency is None:
            case.agency = addressed.agency.key
            session.add(Event(case_id=case.id, kind="agency-set", detail=f"agency {addressed.agency.key}",
                              actor=actor, via="cli", at=now))
        letter = letters.render(name, _context(session, hub, case, name))
        row_id = enqueue(session.connection(), case_id=case.id, case_ref=case.ref, letter=name,
                         recipient=addressed.recipient, refs=hub.refs, domain=hub.config.office.domain, now=now,
                         actor=actor, subject=letter.subject, body=letter.body, context={"queued_by": actor})
        session.execute(update(Case).where(Case.id == case.id).values(updated_at=now))
        session.add(Event(case_id=case.id, kind="letter-queued", detail=f"{name} to {addressed.recipient}",
                          actor=actor, via="cli", at=now))
    return row_id, addressed.recipient


def address(config: Config, case: Case, name: str, to: str | None) -> Addressed:
    """Who the letter goes to: `constituent`, `agency` (the case's agency's liaison) or an address."""
    where = (to or ("agency" if name in AGENCY_LETTERS else "constituent")).strip()
    if where == "constituent":
        email = case.constituent.email if case.constituent else None
        if not email:
            raise UserError(f"{case.ref} has no constituent address; give --to ADDRESS")
        return Addressed(email.lower(), None)
    if where == "agency":
        agency = config.agency(case.agency)
        if agency is None:
            raise UserError(f"{case.ref} has no agency yet; give --to with the liaison's address")
        if not agency.liaison:
            raise UserError(f"agency {agency.key} has no liaison address in agencies.toml; give --to ADDRESS")
        return Addressed(agency.liaison, agency)
    if not ADDRESS.match(where):
        raise UserError(f"--to: expected constituent, agency or an email address, got {where!r}")
    domain = where.rsplit("@", 1)[1].lower()
    return Addressed(where.lower(), next((a for a in config.agencies if a.has_domain(domain)), None))


def _context(session: Session, hub: Hub, case: Case, name: str) -> dict[str, Any]:
    return case_context(session, hub.config, case, hub.clock.now(), {"letter": name})
