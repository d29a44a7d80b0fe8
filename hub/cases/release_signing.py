"""A privacy release signed on the hub's page, recorded on the case in one transaction: the link used (once),
the signed PDF filed as the evidence of a release (method "e-sign") on a message of its own, and the
caseworker told, with the PDF. The agency letters then enclose that PDF (hub.letters.enclosures).

The answers the agency needs (date of birth, SSN digits, claim or A-number) are in the PDF alone: never in the
message's text, the case's history or a log line.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hub.cases.casework import Actor, record, release_received
from hub.core.config import Config
from hub.core.file_store import keep_attachment_bytes
from hub.core.models import Attachment, Case, Message, Release, ReleaseLink
from hub.core.refs import References
from hub.letters.notice_digest import NOTICE
from hub.letters.outbox import AUTO_GENERATED, enqueue
from hub.letters.release_link import revoke_links
from hub.letters.release_pdf import Audit, SignedForm, render

log = logging.getLogger(__name__)
METHOD = "e-sign"
KIND = "release"  # the message that carries the signed PDF
CHANNEL = "web"


class AlreadyUsed(Exception):
    """The link was used (or revoked) by another request since it was opened."""


@dataclass(frozen=True)
class Signed:
    case_ref: str
    release_id: int
    attachment_id: int
    pdf_sha256: str
    content_sha256: str


def link_case(session: Session, link: ReleaseLink) -> Case:
    """The link's case, or the case it was merged into since."""
    case = session.get_one(Case, link.case_id)
    while case.merged_into_id is not None:
        case = session.get_one(Case, case.merged_into_id)
    return case


def revoke_release_links(session: Session, case: Case, actor: Actor, now: datetime) -> str:
    """`#release revoke`: the case's unused signing links stop working (a letter sent to a wrong address)."""
    count = revoke_links(session, case, now)
    if count:
        record(session, case, actor, "release-links-revoked", f"{count} unused link(s) to sign the release", now)
    return f"{count} unused link(s) to sign the release revoked" if count else "no unused link to sign the release"


def sign_release(session: Session, config: Config, refs: References, link: ReleaseLink, form: SignedForm,
                 audit: Audit, drawn: bytes | None, now: datetime, agency: str | None = None) -> Signed:
    """Record the signed release in the caller's transaction; AlreadyUsed when the link no longer works. The
    release covers `agency` (the key of the one the form named), every agency when None."""
    claimed = session.execute(update(ReleaseLink).where(ReleaseLink.id == link.id, ReleaseLink.used_at.is_(None),
                                                        ReleaseLink.revoked_at.is_(None)).values(used_at=now))
    if not getattr(claimed, "rowcount", 0):
        raise AlreadyUsed(link.token_id)
    case = link_case(session, link)
    pdf, content_sha256 = render(form, audit, drawn)
    pdf_sha256 = hashlib.sha256(pdf).hexdigest()
    message = Message(case_id=case.id, direction="in", channel=CHANNEL, kind=KIND, disposition="case",
                      dedupe_key=f"release-link:{link.token_id}", source="release-page",
                      sender=case.constituent.email or "" if case.constituent else "", sender_name=form.full_name,
                      subject="Privacy release signed by link",
                      body=f"{form.full_name} signed the privacy release for {form.agency} on the office's page "
                           f"(link {link.token_id}). The signed form is attached.",
                      at=now, received_at=now)
    message.full_text = message.body
    session.add(message)
    session.flush()
    attachment = Attachment(message_id=message.id, filename=f"privacy-release-{case.ref}.pdf",
                            content_type="application/pdf", size=len(pdf))
    keep_attachment_bytes(session, attachment, pdf)
    session.add(attachment)
    session.flush()
    today = now.astimezone(ZoneInfo(config.office.timezone)).date()
    actor = Actor("constituent", "web", message.id)
    release_received(session, case, today, actor, now, method=METHOD, attachment_id=attachment.id,
                     scope=(agency,) if agency else (), today=today, message_id=message.id,
                     signed_by=form.full_name)
    session.flush()
    release_id = session.scalars(select(Release.id).where(Release.case_id == case.id)
                                 .order_by(Release.id.desc()).limit(1)).one()
    session.execute(update(ReleaseLink).where(ReleaseLink.id == link.id).values(release_id=release_id))
    record(session, case, actor, "release-signed",
           f"by link {link.token_id}: PDF sha256 {pdf_sha256}, signed content sha256 {content_sha256}", now)
    enqueue(session.connection(), case_id=case.id, case_ref=case.ref, letter=NOTICE,
            recipient=case.assignee or config.office.intake_address, refs=refs, domain=config.office.domain,
            now=now, automatic=AUTO_GENERATED,
            context={"notice": "Privacy release signed by link",
                     "text": f"{form.full_name} signed the privacy release for {form.agency} by the link in the "
                             "privacy-release-request letter. The signed PDF is attached and recorded as the "
                             "case's release; the agency letters enclose it.",
                     "message_row_id": message.id})
    log.info("case %s: privacy release signed by link %s", case.ref, link.token_id)
    return Signed(case.ref, release_id, attachment.id, pdf_sha256, content_sha256)
