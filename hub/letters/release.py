"""The signed privacy release a letter to an agency rests on: the newest on file that covers the agency
and is recent enough for it, and the file that is its evidence (the constituent's scan or PDF)."""

from __future__ import annotations

from datetime import date
from typing import NamedTuple

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from hub.core.agency_directory import Agency
from hub.core.file_store import bytes_are_kept
from hub.core.models import Attachment, Case, Release


class ReleaseOnFile(NamedTuple):
    """What a letter asks of a release on file: read as these columns, not as the ORM's row."""

    id: int
    signed_on: date
    scope: list[str]
    attachment_id: int | None


_RELEASES = (select(Release.id, Release.signed_on, Release.scope, Release.attachment_id)
             .where(Release.case_id == bindparam("case_id")).order_by(Release.signed_on.desc(), Release.id.desc()))
_EVIDENCE = select(Attachment.id).where(Attachment.id == bindparam("attachment_id"), bytes_are_kept())


def valid_release(session: Session, case: Case, agency: Agency | None, today: date) -> ReleaseOnFile | None:
    """The newest release that covers the agency and is recent enough for it, if any."""
    for release in session.execute(_RELEASES, {"case_id": case.id}):
        if release.scope and (agency is None or agency.key not in release.scope):
            continue
        if agency is not None and agency.release_valid_days and \
                (today - release.signed_on).days > agency.release_valid_days:
            continue
        return ReleaseOnFile(*release)
    return None


def evidence(session: Session, release: ReleaseOnFile | None) -> int | None:
    """The id of the release's file, when the hub holds its bytes (not one kept by name only, being too
    large); asked without reading them."""
    if release is None or release.attachment_id is None:
        return None
    return session.scalar(_EVIDENCE, {"attachment_id": release.attachment_id})
