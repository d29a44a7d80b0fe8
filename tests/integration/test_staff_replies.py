"""A caseworker's reply to a notice relays what she wrote now, and never the notice, on SQLite and PostgreSQL.

The notice is the one the hub really sent (from the sent Maildir); the replies are written the way
mail clients write them: Outlook's header block above the notice, Gmail's "On … wrote:" with `>`
quoting, an HTML-only Outlook reply, and a client that pastes the notice as it is. Authenticated all:
with no new text nothing is relayed and the caseworker is told so once; with new text only that text
goes, none of the notice's lines.
"""

from __future__ import annotations

import html
import mailbox
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import pytest
from sqlalchemy import select

from hub.core.app import Hub
from hub.core.clock import FixedClock
from hub.core.models import Case, Event, Outbox
from hub.run.cycle import run_once
from tests.helpers import OFFICE_ADDRESS, STAFF, STAFF_AUTHENTICATED, START

pytestmark = pytest.mark.integration

PAT = "pat@example.com"
PAT_WROTE = "The name on my Medicare card is misspelled. Can you help?"
RECEIVED = ("from mail.doe.example.gov (mail.doe.example.gov [192.0.2.10]) by mx.doe.example.gov with ESMTPS "
            "id 4Xy7; Mon, 23 Nov 2026 14:00:00 +0000")
NEW_TEXT = "Thanks, we are on it."
# Lines of the notice that must never reach the constituent.
NOTICE_LINES = ("Case:", "Status:", "Constituent:", "Caseworker:", "How to answer", "----- Message -----",
                "casework-hub notice", PAT_WROTE, "Reply to this email")


def cycle(hub: Hub) -> None:
    clock = hub.clock
    assert isinstance(clock, FixedClock)
    clock.advance(timedelta(minutes=11))
    run_once(hub)


def sent(hub: Hub, to: str) -> list[EmailMessage]:
    found = []
    for raw in mailbox.Maildir(hub.config.resolve("var/sent"), create=True):
        message = message_from_bytes(raw.as_bytes(), policy=policy.default)
        if str(message["To"]) == to:
            found.append(message)
    return sorted(found, key=lambda message: str(message["Date"]) + str(message["Message-ID"]))


def body(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")


def arrive(hub: Hub, message: EmailMessage) -> None:
    raw = message.as_bytes(policy=policy.SMTP)
    above = f"Authentication-Results: {STAFF_AUTHENTICATED}\r\nReceived: {RECEIVED}\r\n".encode()
    mailbox.Maildir(hub.config.resolve("var/inbox"), create=True).add(above + raw)


def notice_for_a_new_case(hub: Hub) -> EmailMessage:
    constituent = EmailMessage()
    constituent["From"], constituent["To"], constituent["Subject"] = f"Pat Example <{PAT}>", OFFICE_ADDRESS, \
        "My Medicare card"
    constituent["Date"], constituent["Message-ID"] = format_datetime(START), make_msgid(domain="example.com")
    constituent.set_content(PAT_WROTE)
    mailbox.Maildir(hub.config.resolve("var/inbox"), create=True).add(constituent.as_bytes())
    cycle(hub)
    (notice,) = sent(hub, STAFF)
    assert len(sent(hub, PAT)) == 1, "the acknowledgement"
    return notice


def reply(notice: EmailMessage, text: str, html_text: str | None = None) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"] = f"Maria Lopez <{STAFF}>", str(notice["Reply-To"])
    message["Subject"] = f"RE: {notice['Subject']}"
    message["Date"], message["Message-ID"] = format_datetime(START), make_msgid(domain="doe.example.gov")
    message["In-Reply-To"] = message["References"] = str(notice["Message-ID"])
    if html_text is None:
        message.set_content(text)
    else:
        message.set_content(html_text, subtype="html")
    return message


def outlook(notice: EmailMessage, new: str) -> str:
    """Outlook: the new text, a rule, a header block, and the notice below it as it was."""
    return (f"{new}\n\n________________________________\nFrom: {notice['From']}\n"
            "Sent: Monday, November 23, 2026 9:11 AM\nTo: Maria Lopez <maria.lopez@doe.example.gov>\n"
            f"Subject: {notice['Subject']}\n\n{body(notice)}")


def gmail(notice: EmailMessage, new: str) -> str:
    """Gmail: the new text, "On … wrote:", and the notice quoted with `>`."""
    quoted = "\n".join(f"> {line}" if line else ">" for line in body(notice).splitlines())
    return f"{new}\n\nOn Mon, Nov 23, 2026 at 9:11 AM {notice['From']} wrote:\n\n{quoted}\n"


def pasted(notice: EmailMessage, new: str) -> str:
    """A client that puts the notice below the new text as it is: no quote marks, no header."""
    return f"{new}\n\n{body(notice)}"


def outlook_html(notice: EmailMessage, new: str) -> str:
    """Outlook on the web, HTML only: the notice as a div of lines below a header block."""
    lines = "<br>\n".join(html.escape(line) for line in body(notice).splitlines())
    sender = html.escape(str(notice["From"]))
    return (f"<html><body><div>{html.escape(new)}</div><div><br></div><hr style='display:inline-block'>"
            f"<div id='divRplyFwdMsg'><b>From:</b> {sender}<br><b>Sent:</b> Monday, November 23, 2026 9:11 AM<br>"
            f"<b>To:</b> Maria Lopez &lt;{STAFF}&gt;<br><b>Subject:</b> {html.escape(str(notice['Subject']))}"
            f"</div><div class='PlainText'>{lines}</div></body></html>")


CLIENTS = {"outlook": outlook, "gmail": gmail, "pasted": pasted, "outlook html": outlook_html}


def relayed(hub: Hub) -> list[str]:
    with hub.sessions() as session:
        return [str(row.context["text"]) for row in session.scalars(
            select(Outbox).where(Outbox.letter == "relay").order_by(Outbox.id))]


def case_events(hub: Hub) -> list[Event]:
    with hub.sessions() as session:
        (case,) = session.scalars(select(Case))
        return list(session.scalars(select(Event).where(Event.case_id == case.id).order_by(Event.id)))


@pytest.mark.parametrize("client", list(CLIENTS))
def test_a_reply_with_nothing_new_relays_nothing_and_says_so(hub: Hub, client: str) -> None:
    notice = notice_for_a_new_case(hub)
    assert body(notice).splitlines()[0].startswith("----- casework-hub notice CW-")
    text = CLIENTS[client](notice, "")
    arrive(hub, reply(notice, text) if client != "outlook html" else reply(notice, "", text))
    cycle(hub)

    assert relayed(hub) == []
    assert len(sent(hub, PAT)) == 1, "still only the acknowledgement"
    (told,) = sent(hub, STAFF)[1:]
    assert "Nothing was sent" in str(told["Subject"])
    assert "no new text" in body(told), body(told)
    kept = [event for event in case_events(hub) if event.kind == "nothing-relayed"]
    assert [(event.actor, event.via) for event in kept] == [(STAFF, "mail")]


@pytest.mark.parametrize("client", list(CLIENTS))
def test_only_the_new_text_is_relayed_never_the_notice(hub: Hub, client: str) -> None:
    notice = notice_for_a_new_case(hub)
    text = CLIENTS[client](notice, NEW_TEXT)
    arrive(hub, reply(notice, text) if client != "outlook html" else reply(notice, "", f"{text}"))
    cycle(hub)

    assert relayed(hub) == [NEW_TEXT]
    (answer,) = sent(hub, PAT)[1:]
    written = body(answer)
    assert written.startswith(NEW_TEXT + "\n\nMaria Lopez\n"), written
    for line in NOTICE_LINES:
        assert line not in written, (line, written)
    assert len(sent(hub, STAFF)) == 1, "a relay without commands gets no confirmation"


@pytest.mark.parametrize("client", ["outlook", "gmail", "pasted"])
def test_commands_alone_above_the_notice_work_as_before(hub: Hub, client: str) -> None:
    notice = notice_for_a_new_case(hub)
    arrive(hub, reply(notice, CLIENTS[client](notice, "#assign sam\n#label medicare")))
    cycle(hub)

    with hub.sessions() as session:
        (case,) = session.scalars(select(Case))
        assert (case.assignee, case.labels) == ("sam.carter@doe.example.gov", ["medicare"])
    assert relayed(hub) == [] and len(sent(hub, PAT)) == 1
    (done,) = sent(hub, STAFF)[1:]
    assert "Done" in str(done["Subject"]) and "- assigned to Sam Carter" in body(done)

    arrive(hub, reply(notice, CLIENTS[client](notice, "#note Called Pat, card reissued")))
    cycle(hub)
    assert relayed(hub) == [] and len(sent(hub, PAT)) == 1
    assert [event.detail for event in case_events(hub) if event.kind == "note"] == ["Called Pat, card reissued"]
    assert "Done" in str(sent(hub, STAFF)[-1]["Subject"])


def test_a_target_with_no_text_below_it_says_nothing_was_sent(hub: Hub) -> None:
    notice = notice_for_a_new_case(hub)
    arrive(hub, reply(notice, gmail(notice, "#to constituent")))
    cycle(hub)
    assert relayed(hub) == []
    (done,) = sent(hub, STAFF)[1:]
    assert "nothing was sent: your reply had no text below the commands" in body(done), body(done)
