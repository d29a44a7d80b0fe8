"""A letter queued for a case in the caller's transaction: addressed, checked, rendered, put in the outbox.

The same for `hub letter send` and for a caseworker's `#send` by mail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.cases.casework import Actor, record, release_problem, set_agency
from hub.cases.contacts import constituent_channel
from hub.cases.people import PREFIX, person_channel, person_named
from hub.cases.sms_optout import opted_out
from hub.core.agency_directory import Agency
from hub.core.config import Config
from hub.core.config_table import ADDRESS
from hub.core.errors import UserError
from hub.core.models import Case, Outbox
from hub.core.refs import References
from hub.letters.context import SIGN_LINK, case_context, spoken_date
from hub.letters.enclosures import enclosures
from hub.letters.outbox import enqueue
from hub.letters.release_link import link_base, make_link, revoke_links
from hub.letters.templates import AGENCY_LETTERS, CASE_STATUS, Letters

RELEASE_REQUEST = "privacy-release-request"


@dataclass(frozen=True)
class Addressed:
    recipient: str
    agency: Agency | None  # the directory agency the recipient belongs to
    channel: str = "email"
    person: str = ""  # the name of the case's person it goes to (`person:NAME`)
    role: str = ""  # and their role on the case


def queue_letter(session: Session, config: Config, refs: References, letters: Letters, case: Case, name: str,
                 to: str | None, force: bool, actor: Actor, now: datetime, files: tuple[int, ...] = (),
                 text: str = "", not_before: datetime | None = None) -> tuple[int, str]:
    """The letter rendered for the case and queued in the caller's transaction, after the checks:
    not twice unless forced, and an agency inquiry only with a valid privacy release unless forced.
    `files` are more of the case's files for it to enclose; `text`, the caseworker's words it carries;
    `not_before`, when it may go (default: now)."""
    if name == CASE_STATUS:
        raise UserError(f"{name} is the answer to a constituent's STATUS text or mail; it is not sent by hand")
    addressed = address(session, config, case, name, to, letters)
    if files and addressed.channel == "sms":
        raise UserError(f"{name} goes to {addressed.person or 'the constituent'} by text, which carries no files "
                        "(#attach)")
    stopped = opted_out(session.connection(), addressed.recipient) if addressed.channel == "sms" else None
    if stopped is not None and addressed.person:
        raise UserError(f"{case.ref}: {addressed.person}'s number opted out of texts on {stopped[0]:%Y-%m-%d}")
    if stopped is not None:
        raise UserError(f"{case.ref}: the constituent's number opted out of texts on {stopped[0]:%Y-%m-%d} and the "
                        "case has no email address; give --to ADDRESS, or wait for them to text START")
    if not force:
        same = select(Outbox.state).where(Outbox.case_id == case.id, Outbox.letter == name,
                                          Outbox.state.in_(("pending", "sending", "sent")))
        # A person on the case is asked on their own: the constituent's letter is not theirs.
        earlier = session.scalar(same.where(Outbox.recipient == addressed.recipient) if addressed.person else same)
        if earlier:
            raise UserError(f"{name} is already {earlier} on {case.ref}; force sends it again "
                            f"(#send {name} force, or hub letter send --force)")
    if name == "agency-inquiry":
        agency = addressed.agency or config.agency(case.agency)
        problem = release_problem(session, case, agency, now.astimezone(ZoneInfo(config.office.timezone)).date())
        if problem and not force:
            raise UserError(f"agency-inquiry not sent: {problem} (record one with #release received, or force it: "
                            "#send agency-inquiry force, or hub letter send --force)")
        if problem:
            record(session, case, actor, "release-overridden",
                   f"agency-inquiry sent without a valid release: {problem}", now)
    if addressed.agency is not None and case.agency is None:
        set_agency(session, case, addressed.agency, actor, now, config)
    words: dict[str, Any] = {"text": text} if text else {}
    if addressed.person:  # greeted by name, here and when a text is rendered again to go
        words["recipient"] = {"name": addressed.person, "role": addressed.role}
    shown = dict(words)  # what the text shows and the outbox row does not keep: the signing link's token
    if name == RELEASE_REQUEST and link_base(config) and not addressed.agency and addressed.channel == "email":
        revoked = revoke_links(session, case, now)  # only the newest letter's link works
        made = make_link(session, config, case, now)
        until = made.expires_at.astimezone(ZoneInfo(config.office.timezone)).date() - timedelta(days=1)
        shown[SIGN_LINK] = {"url": made.url, "until": spoken_date(until)}
        record(session, case, actor, "release-link", f"link {made.token_id} to sign the release, until {until}"
               + (f"; {revoked} earlier unused link(s) revoked" if revoked else ""), now)
    letter = letters.render(name, case_context(session, config, case, now, {"letter": name, **shown}),
                            addressed.channel)
    # A text is rendered again when it goes: it is cut to the segment limit then, and the caseworker told.
    by_text = addressed.channel == "sms"
    enclosed = enclosures(session, config, case, name, {}, now)
    row_id = enqueue(session.connection(), case_id=case.id, case_ref=case.ref, letter=name,
                     recipient=addressed.recipient, refs=refs, domain=config.office.domain, now=now,
                     actor=actor.who, channel=addressed.channel, subject=None if by_text else letter.subject,
                     not_before=not_before,
                     body=None if by_text else letter.body,
                     context={"queued_by": actor.who, **words,
                              "enclosures": enclosed + [file for file in files if file not in enclosed]})
    record(session, case, actor, "letter-queued", f"{name} to {addressed.recipient}", now)
    return row_id, addressed.recipient


def address(session: Session, config: Config, case: Case, name: str, to: str | None, letters: Letters) -> Addressed:
    """Who the letter goes to: `constituent` (by text when the case talks by text and the letter has a
    text version), `agency` (the case's agency's liaison), `person:NAME` (one of the case's people) or an
    address."""
    where = (to or ("agency" if name in AGENCY_LETTERS else "constituent")).strip()
    if where.lower().startswith(PREFIX):
        person = person_named(session, case, where[len(PREFIX):])
        channel, recipient = person_channel(person, name in letters.names("sms"))
        return Addressed(recipient, None, channel, person.name, person.role)
    if where == "constituent":
        email = case.constituent.email if case.constituent else None
        phone = case.constituent.phone if case.constituent else None
        reached = constituent_channel(email, phone, case.contact_channel, name in letters.names("sms"))
        if reached is None:
            why = " and no text version of this letter" if phone else ""
            raise UserError(f"{case.ref} has no constituent address{why}; give --to ADDRESS")
        channel, recipient = reached
        return Addressed(recipient if channel == "sms" else recipient.lower(), None, channel)
    if where == "agency":
        agency = config.agency(case.agency)
        if agency is None:
            raise UserError(f"{case.ref} has no agency yet; give --to with the liaison's address")
        if not agency.liaison:
            raise UserError(f"agency {agency.key} has no liaison address in agencies.toml; give --to ADDRESS")
        return Addressed(agency.liaison, agency)
    if not ADDRESS.match(where):
        raise UserError(f"--to: expected constituent, agency, person:NAME or an email address, got {where!r}")
    domain = where.rsplit("@", 1)[1].lower()
    return Addressed(where.lower(), next((a for a in config.agencies if a.has_domain(domain)), None))
