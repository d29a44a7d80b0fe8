"""A caseworker's reply to a triage notice: `#case REF`, `#new` or `#dismiss REASON` at the top places the held
message the notice was about.

Which message is read from the reply's In-Reply-To/References: the Message-ID of the notice the hub sent,
never from anything the reply says. A command counts only when the office's own server vouches for the staff
member (hub.intake.staff.authentication_problem); a forged reply places nothing, and the real staff member
is told what was tried. Either way one reply goes back: "Done" and what happened, or "Nothing was applied"
and why.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, bindparam, insert, select

from hub.cases.triage_queue import dismiss
from hub.core.config import Config
from hub.core.errors import UserError
from hub.core.models import Event, Outbox
from hub.core.refs import References
from hub.intake.commands import COMMAND_LINE
from hub.intake.message import InboundMessage
from hub.intake.staff import authentication_problem, what_was_refused
from hub.intake.thread import MAX_THREAD_IDS
from hub.intake.triage_filing import Placed, file_on_case, open_for_sender
from hub.letters.notice_digest import REFUSAL, enqueue_capped
from hub.letters.outbox import AUTO_GENERATED, enqueue
from hub.letters.templates import TRIAGE_NOTICE, Letters

USAGE = "reply with one of #case REF, #new or #dismiss REASON at the top"
_NOTICES = select(Outbox.message_id, Outbox.context).where(
    Outbox.message_id.in_(bindparam("ids", expanding=True)), Outbox.letter == TRIAGE_NOTICE)


def answered_item(connection: Connection, message: InboundMessage) -> int | None:
    """The held message whose notice this message replies to (the nearest such notice), or None."""
    ids = message.thread_ids[:MAX_THREAD_IDS]
    if not ids:
        return None
    items = {message_id: context.get("message_row_id") for message_id, context in
             connection.execute(_NOTICES, {"ids": list(ids)})}
    return next((int(items[i]) for i in ids if items.get(i) is not None), None)


def answer_triage(connection: Connection, message: InboundMessage, row_id: int, item_id: int, config: Config,
                  refs: References, letters: Letters, now: datetime) -> str:
    """Apply the reply's command to held message `item_id`, or refuse it; returns what happened, in a line."""
    actor = message.sender

    def refuse(problem: str) -> str:
        connection.execute(insert(Event), dict(case_id=None, message_id=row_id, kind="commands-refused",
                                               detail=f"triage item {item_id}: {problem}"[:4000], actor=actor,
                                               via="mail", at=now))
        # A flood of refused mail gets a few replies and one digest, which lists the reasons.
        enqueue_capped(connection, config, refs, now, letter=REFUSAL, recipient=actor, about=actor, case_id=None,
                       case_ref=None, automatic=AUTO_GENERATED, in_reply_to=message.message_id,
                       subject=f"Nothing was applied: triage item {item_id}",
                       body=f"Nothing was applied to triage item {item_id}:\n- {problem}{what_was_refused(message)}",
                       context={"reasons": f"- {problem}"[:4000]})
        return f"nothing applied: {problem}"

    doubt = authentication_problem(message, config)
    if doubt:
        return refuse(f"your message could not be authenticated ({doubt}); nothing was placed")
    command = _command("" if message.nothing_new else message.new_text)
    if isinstance(command, str):
        return refuse(command)
    name, argument = command
    savepoint = connection.begin_nested()
    try:
        if name == "case":
            placed: Placed | str = file_on_case(connection, item_id, argument, actor, "mail", config, refs, letters,
                                                now)
        elif name == "new":
            placed = open_for_sender(connection, item_id, actor, "mail", config, refs, letters, now)
        else:
            placed = dismiss(connection, item_id, argument, actor, "mail", now)
    except UserError as error:
        savepoint.rollback()
        return refuse(str(error))
    savepoint.commit()
    line = placed if isinstance(placed, str) else placed.line
    enqueue(connection, case_id=None if isinstance(placed, str) else placed.case_id,
            case_ref=None if isinstance(placed, str) else placed.case_ref, letter=REFUSAL, recipient=actor,
            refs=refs, domain=config.office.domain, now=now, automatic=AUTO_GENERATED,
            in_reply_to=message.message_id, subject=f"Done: triage item {item_id}", body=f"Done\n\n- {line}")
    return line


def _command(text: str) -> tuple[str, str] | str:
    """The one command at the top of the reply's new text, as (name, argument); or what is wrong with it."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    found = COMMAND_LINE.match(lines[0]) if lines else None
    if found is None:
        return f"no command found: {USAGE}"
    name, argument = found.group(1).lower(), (found.group(2) or "").strip()
    if name not in ("case", "new", "dismiss"):
        return f"#{name}: not a triage command; {USAGE}"
    if name == "case" and not argument:
        return "#case needs the case's reference (e.g. #case CW-26-00042-K7)"
    if name == "dismiss" and not argument:
        return "#dismiss needs a reason (e.g. #dismiss spam)"
    return name, argument
