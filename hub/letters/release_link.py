"""The personal link to sign a case's privacy release on the hub's page: made when the privacy-release-request
letter is queued, opened when the constituent follows it.

The link carries a token signed (HMAC, by itsdangerous) with the office's secret, so that nobody can make
one, and holding a random token id; the `release_links` row of that id says for which case, until when,
and whether it was used (once) or revoked. Only the letter carries the token: the database keeps its id, and
no log line has either.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.core.config import Config
from hub.core.models import Case, ReleaseLink

SALT = "privacy-release-link"  # a token signed for this purpose is no good for any other
PATH = "/release/"  # the page's path on the web app; the token follows


@dataclass(frozen=True)
class Made:
    url: str
    token_id: str
    expires_at: datetime


@dataclass(frozen=True)
class Refused:
    """Why a link does not open the form: `reason` is one of forged | expired | used | revoked."""

    reason: str
    link: ReleaseLink | None = None


def link_base(config: Config) -> str:
    """The public address of the web app, "" when links are not configured ([web] public_url)."""
    return config.web.public_url if config.web is not None else ""


def _serializer(config: Config) -> URLSafeSerializer:
    return URLSafeSerializer(config.office.secret, salt=SALT)


def make_link(session: Session, config: Config, case: Case, now: datetime) -> Made:
    """A new link for the case, recorded in the caller's transaction."""
    assert config.web is not None and config.web.public_url
    token_id = secrets.token_urlsafe(12)
    expires_at = now + timedelta(days=config.web.release_link_days)
    session.add(ReleaseLink(token_id=token_id, case_id=case.id, agency=case.agency, created_at=now,
                            expires_at=expires_at))
    token = _serializer(config).dumps({"t": token_id})
    return Made(f"{config.web.public_url}{PATH}{token}", token_id, expires_at)


def open_link(session: Session, config: Config, token: str, now: datetime) -> ReleaseLink | Refused:
    """The link's row when the token is genuine, recorded, unused, unrevoked and not expired."""
    try:
        payload = _serializer(config).loads(token)
    except BadSignature:
        return Refused("forged")
    token_id = payload.get("t") if isinstance(payload, dict) else None
    link = session.scalar(select(ReleaseLink).where(ReleaseLink.token_id == str(token_id))) if token_id else None
    if link is None:  # signed with our secret, yet never recorded: a database restored from before it
        return Refused("forged")
    if link.used_at is not None:
        return Refused("used", link)
    if link.revoked_at is not None:
        return Refused("revoked", link)
    if now >= link.expires_at:
        return Refused("expired", link)
    return link


def revoke_links(session: Session, case: Case, now: datetime) -> int:
    """Every unused link of the case stops working; how many did."""
    links = session.scalars(select(ReleaseLink).where(ReleaseLink.case_id == case.id, ReleaseLink.used_at.is_(None),
                                                      ReleaseLink.revoked_at.is_(None))).all()
    for link in links:
        link.revoked_at = now
    return len(links)
