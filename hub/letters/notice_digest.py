"""Floods: one sender cannot bury a staff address in the hub's notices, nor in refusals of its commands.

In `[limits] notice_window_minutes`, at most `notices_per_sender` caseworker notices about one sender go
to one staff address one by one, and at most `refusals_per_sender` replies to that sender's refused
commands; the rest are folded into one digest to that address, due a window after the first notice
folded into it. Only the notices are folded: every message is filed on its case as ever.

The fold is decided when the notice is queued, in the transaction of the message that caused it: the
folded notice is still an outbox row (state "folded", `folded_into` its digest), and the digest is an
outbox row like any other, written on its first delivery attempt from the rows folded into it. A crash
therefore loses no notice and sends none twice. A notice joining a digest first holds the digest's row
(an UPDATE that changes nothing) until its transaction ends, so it is in the digest before delivery
can claim it; once the digest is claimed, the next notice starts a new one.

A pipelined batch on PostgreSQL (hub.intake.pipeline.Batch) asks once for all of its senders what the fold
needs (`Caps`), and keeps it up to date as it queues their notices: a notice then costs no round trip of its own,
and the case's thread root is found by the notice's insert itself (hub.letters.notice_thread.QUEUE_THREADED). The
batch is one transaction, so a digest held (or made) in it stays open until the commit; rows other processes
commit meanwhile are not seen until the next batch, as a notice queued by another process at the same moment
is not seen today either.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Integer, bindparam, func, select, true, update
from sqlalchemy.orm import Session

from hub.core.config import Config
from hub.core.config_values import Limits
from hub.core.models import Case, Outbox
from hub.core.refs import References
from hub.letters.notice_thread import QUEUE_THREADED, ROOT_OF_CASE, threaded_parameters
from hub.letters.outbox import AUTO_GENERATED, enqueue, outbox_row, queue
from hub.letters.templates import NOTICE_DIGEST, TRIAGE_NOTICE

NOTICE = "caseworker-notification"
REFUSAL = "command-reply"
# A digest lists this many cases and this many distinct reasons for refusals; it counts the rest.
SHOWN_CASES = 40
SHOWN_REASONS = 5

# A digest takes notices until delivery claims it (then it is "sending", and its text is fixed once
# written: a retry after a temporary failure is "pending" again, but with a body).
_OPEN = (Outbox.state == "pending") & Outbox.body.is_(None)
_OPEN_DIGESTS = (select(Outbox.id, Outbox.context)
                 .where(Outbox.about == bindparam("about"), Outbox.recipient == bindparam("recipient"),
                        Outbox.letter == NOTICE_DIGEST, _OPEN).order_by(Outbox.id))
# Only the rows sent one by one count; the count stops at the cap (ix_outbox_about). It comes in the same
# statement as the open digests and the case's thread: a notice is queued for nearly every message, and each
# statement is a round trip to PostgreSQL.
_ALONE = (select(Outbox.id).where(Outbox.about == bindparam("about"), Outbox.recipient == bindparam("recipient"),
                                  Outbox.letter == bindparam("letter"), Outbox.created_at >= bindparam("since"),
                                  Outbox.folded_into.is_(None))
          .limit(bindparam("cap", type_=Integer)).subquery())
_COUNTED = select(func.count().label("alone"), ROOT_OF_CASE.label("root")).select_from(_ALONE).subquery()
_DIGESTS = _OPEN_DIGESTS.subquery()
_FOLD = (select(_COUNTED.c.alone, _COUNTED.c.root, _DIGESTS.c.id, _DIGESTS.c.context)
         .select_from(_COUNTED.outerjoin(_DIGESTS, true())).order_by(_DIGESTS.c.id))
_HOLD = update(Outbox).where(Outbox.id == bindparam("digest_id"), _OPEN).values(not_before=Outbox.not_before)
# What `Caps` reads for a batch's senders: the notices sent alone in the window, and the open digests.
_ALONE_BY_SENDER = (select(Outbox.about, Outbox.recipient, func.count().label("alone"),
                           func.min(Outbox.created_at).label("oldest"))
                    .where(Outbox.about.in_(bindparam("abouts", expanding=True)), Outbox.letter == NOTICE,
                           Outbox.created_at >= bindparam("since"), Outbox.folded_into.is_(None))
                    .group_by(Outbox.about, Outbox.recipient))
_OPEN_BY_SENDER = (select(Outbox.about, Outbox.recipient, Outbox.id, Outbox.context)
                   .where(Outbox.about.in_(bindparam("abouts", expanding=True)), Outbox.letter == NOTICE_DIGEST, _OPEN)
                   .order_by(Outbox.id))


@dataclass
class _Window:
    """A sender's notices to one address, as a batch knows them: how many went alone in the window (the oldest
    of them), the open digests to try in order, and the digest this transaction holds or made (open until it
    ends)."""

    alone: int = 0
    oldest: datetime | None = None
    digests: list[int] = field(default_factory=list)
    held: int | None = None


class Caps:
    """What the fold of caseworker notices (NOTICE) needs about a pipelined batch's senders, read in two statements
    for the batch and kept up to date as the batch queues their notices; good for the batch's transaction
    only. A sender not asked about, or a window moved past the oldest notice counted, is asked as ever."""

    def __init__(self, connection: Connection, config: Config, abouts: list[str], now: datetime) -> None:
        self._window = timedelta(minutes=config.limits.notice_window_minutes)
        self._since = now - self._window
        self._abouts = set(abouts)
        self._known: dict[tuple[str, str], _Window] = {}
        if not abouts:
            return
        for about, recipient, alone, oldest in connection.execute(
                _ALONE_BY_SENDER, {"abouts": abouts, "since": self._since}):
            self._known[str(about), recipient] = _Window(alone, oldest)
        for about, recipient, digest_id, context in connection.execute(_OPEN_BY_SENDER, {"abouts": abouts}):
            if context.get("folds") == NOTICE:
                window = self._known.setdefault((str(about), recipient), _Window())
                window.digests.append(int(digest_id))

    def window(self, recipient: str, about: str, now: datetime) -> _Window | None:
        """The batch's knowledge of `about`'s notices to `recipient`, None when the database is to be asked."""
        since = now - self._window
        if about not in self._abouts or since < self._since:
            return None
        window = self._known.setdefault((about, recipient), _Window())
        if window.oldest is not None and window.oldest < since:
            self._abouts.discard(about)  # the count is no longer known: asked from now on
            return None
        return window

    def forget(self, about: str) -> None:
        """`about`'s notices were queued without this batch's knowledge: ask the database from now on."""
        self._abouts.discard(about)


def enqueue_capped(connection: Connection, config: Config, refs: References, now: datetime, *, letter: str,
                   recipient: str, about: str, caps: Caps | None = None, **options: Any) -> None:
    """Queue a notice (NOTICE or TRIAGE_NOTICE) or a refusal (REFUSAL) to a staff address about `about`'s message,
    folded into that address's digest about `about` once the window's cap is reached. Its insert is `queue`'s: no
    round trip of its own in a pipelined batch; with the batch's `caps` (NOTICE only), neither is the fold's."""
    window = caps.window(recipient, about, now) if caps is not None and letter == NOTICE else None
    if window is not None:
        _enqueue_known(connection, config, refs, now, window, recipient=recipient, about=about, **options)
        return
    if caps is not None:
        caps.forget(about)
    case_id = options.get("case_id")
    digest, root = _digest_for(connection, config, refs, now, letter, recipient, about, case_id)
    queue(connection, outbox_row(connection, letter=letter, recipient=recipient, refs=refs,
                                 domain=config.office.domain, now=now, about=about, folded_into=digest,
                                 known_roots={case_id: root} if case_id is not None else None, **options))


def _enqueue_known(connection: Connection, config: Config, refs: References, now: datetime, window: _Window, *,
                   recipient: str, about: str, **options: Any) -> None:
    """`enqueue_capped` for a notice whose fold the batch knows (`Caps`): the same decision, without asking."""
    cap = config.limits.notices_per_sender
    while window.held is None and window.digests:
        digest_id = window.digests.pop(0)
        if connection.execute(_HOLD, {"digest_id": digest_id}).rowcount:
            window.held = digest_id
    if window.held is None and window.alone >= cap:
        window.held = enqueue(connection, case_id=None, case_ref=None, letter=NOTICE_DIGEST, recipient=recipient,
                              refs=refs, domain=config.office.domain, now=now, automatic=AUTO_GENERATED, about=about,
                              context={"folds": NOTICE, "cap": cap},
                              not_before=now + timedelta(minutes=config.limits.notice_window_minutes))
    row = outbox_row(connection, letter=NOTICE, recipient=recipient, refs=refs, domain=config.office.domain, now=now,
                     about=about, folded_into=window.held, threaded_by_insert=True, **options)
    if window.held is not None:
        queue(connection, row)
        return
    window.alone += 1
    window.oldest = min(window.oldest or now, now)
    if row["case_id"] is None:  # a notice on no case is in no thread
        queue(connection, row)
    else:
        connection.execute(QUEUE_THREADED, threaded_parameters(row))


def _digest_for(connection: Connection, config: Config, refs: References, now: datetime, letter: str,
                recipient: str, about: str, case_id: int | None) -> tuple[int | None, str | None]:
    """The digest this notice goes into, made when the cap is reached (None while under the cap), and the
    Message-ID of the case's first mail to staff (hub.letters.notice_thread), asked in the same statement."""
    cap = _cap(config.limits, letter)
    window = timedelta(minutes=config.limits.notice_window_minutes)
    rows = connection.execute(_FOLD, {"about": about, "recipient": recipient, "letter": letter, "cap": cap,
                                      "since": now - window, "case_id": case_id}).all()
    root_id = rows[0].root
    for _, _, digest_id, context in rows:
        if digest_id is not None and context.get("folds") == letter and \
                connection.execute(_HOLD, {"digest_id": digest_id}).rowcount:
            return int(digest_id), root_id
    if rows[0].alone < cap:
        return None, root_id
    return enqueue(connection, case_id=None, case_ref=None, letter=NOTICE_DIGEST, recipient=recipient, refs=refs,
                   domain=config.office.domain, now=now, automatic=AUTO_GENERATED, about=about,
                   context={"folds": letter, "cap": cap}, not_before=now + window), root_id


def _cap(limits: Limits, letter: str) -> int:
    return limits.refusals_per_sender if letter == REFUSAL else limits.notices_per_sender


def digest_letter(session: Session, row: Outbox, now: datetime) -> tuple[str, str]:
    """The digest's subject and body: how many notices were folded into it, on which cases, and why."""
    folded = session.execute(select(Outbox.created_at, Outbox.context, Case.ref)
                             .outerjoin(Case, Case.id == Outbox.case_id)
                             .where(Outbox.folded_into == row.id).order_by(Outbox.id)).all()
    count, about, cap = len(folded), row.about or "one sender", row.context.get("cap", "")
    since = min((created for created, _, _ in folded), default=now)
    minutes = max(1, -(-int((now - since).total_seconds()) // 60))
    refused = row.context.get("folds") == REFUSAL
    by_case: dict[str, list[str]] = {}
    for _, context, ref in folded:
        by_case.setdefault(ref or "(no case)", []).append("refused" if refused else str(context.get("notice", "")))
    messages = f"{count} more message{'' if count == 1 else 's'} from {about}"
    if refused:
        subject = f"{messages} {'was' if count == 1 else 'were'} refused"
        them = "it" if count == 1 else "them"
        intro = (f"{subject} in the last {minutes} minutes: nothing in {them} was applied or sent, and each is "
                 f"kept on its case. You had a reply for each of the first {cap}; the rest are listed here.")
        reasons = list(dict.fromkeys(str(context.get("reasons", context.get("text", ""))).strip()
                                     for _, context, _ in folded))
        why = ["", "Why:", *(reason[:500] for reason in reasons[:SHOWN_REASONS])]
        if len(reasons) > SHOWN_REASONS:
            why.append(f"- and {len(reasons) - SHOWN_REASONS} other reasons")
    elif row.context.get("folds") == TRIAGE_NOTICE:
        subject = f"{messages} {'is' if count == 1 else 'are'} waiting in triage"
        intro = (f"{subject}; they came in the last {minutes} minutes. You had a notice for each of the first {cap}; "
                 "the rest are listed here (hub triage show ID shows one, with the cases it likely belongs to).")
        lines = [str(context.get("notice", ""))[:120] for _, context, _ in folded]
        more = [f"... and {len(lines) - SHOWN_CASES} more"] if len(lines) > SHOWN_CASES else []
        return subject, "\n".join([textwrap.fill(intro, 76), "", *lines[:SHOWN_CASES], *more])
    else:
        subject = messages
        intro = (f"{messages} opened or joined cases in the last {minutes} minutes. You had a notice for each of "
                 f"the first {cap}; the rest are listed here, so that one sender cannot flood your mail. Every "
                 "message is filed on its case.")
        why = []
    cases = [f"{ref}  {labels[0][:80] if len(labels) == 1 else f'{len(labels)} messages'}"
             for ref, labels in list(by_case.items())[:SHOWN_CASES]]
    if len(by_case) > SHOWN_CASES:
        cases.append(f"... and {len(by_case) - SHOWN_CASES} more cases")
    return subject, "\n".join([textwrap.fill(intro, 76), *why, "", *cases])
