"""A caseworker's day from her mail client, end to end against a real SMTP server, on SQLite and PostgreSQL:
the files her reply carries go on with her text (`#to agency` or to the constituent), but not her signature's
picture that every message of hers shows, `#attach` adds
files already on the case, a reply she signed herself is not signed again, the text announcing a letter
arrives before the letter, and `#close` with her own words sends one closing letter in them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest

from hub.core.app import Hub
from hub.core.clock import FixedClock
from tests.integration.test_commands import (
    LIAISON,
    MARIA,
    PAT,
    answer,
    arrive,
    case_of,
    cycle,
    events,
    from_staff,
    mail,
    new_case,
    outbox,
    subject,
    text_of,
)
from tests.integration.test_notice_files import as_outlook_writes_it, files_of, office_with_file_budget
from tests.servers.smtp import CapturedMessage, SmtpServer

pytestmark = pytest.mark.integration

SCAN = b"%PDF-1.4 " + b"s" * 3000
PHOTO = b"\x89PNG\r\n" + b"p" * 9000
AWARD = b"%PDF-1.4 award " + b"a" * 1000
LOGO = b"\x89PNG\r\n\x1a\n office logo " + b"l" * 600
SCREENSHOT = b"\x89PNG\r\n\x1a\n agency portal " + b"c" * 1200
BUDGET = 5000  # [letters] notice_attachment_bytes in these tests: SCAN fits, PHOTO does not


@pytest.fixture
def office(tmp_path: Path, database_url: str, smtp: SmtpServer) -> Iterator[Hub]:
    hub = office_with_file_budget(tmp_path / "office", database_url, smtp, BUDGET)
    yield hub
    hub.close()


def body_of(captured: CapturedMessage) -> str:
    part = captured.message.get_body(("plain",))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")


def with_files(message: EmailMessage, *files: tuple[str, bytes, str]) -> EmailMessage:
    for name, data, kind in files:
        main, sub = kind.split("/")
        message.add_attachment(data, maintype=main, subtype=sub, filename=name)
    return message


def reply_to_notice(hub: Hub, smtp: SmtpServer, text: str, *files: tuple[str, bytes, str],
                    pictures: list[tuple[str, bytes]] | None = None) -> CapturedMessage | None:
    """Maria answers the notice of the case's first message; returns the hub's confirmation, if one came."""
    notice = smtp.sent_to(MARIA)[0]
    mine = len(smtp.sent_to(MARIA))
    reply = answer(notice, f"Maria Lopez <{MARIA}>", text)
    if pictures:
        reply = as_outlook_writes_it(reply, pictures)
    message_id = from_staff(hub, with_files(reply, *files))
    cycle(hub)
    told = [sent for sent in smtp.sent_to(MARIA)[mine:] if sent.message["In-Reply-To"] == message_id]
    return told[0] if told else None


# ---------------------------------------------------------------------------------------------------
# 1. The files in her reply go on with her text


def test_the_files_in_her_reply_go_to_the_agency_with_her_text(office: Hub, smtp: SmtpServer) -> None:
    new_case(office)
    done = reply_to_notice(office, smtp, "#agency ssa\n#to agency\nPlease see the constituent's scan attached.",
                           ("scan.pdf", SCAN, "application/pdf"))
    assert done is not None and "- your text goes to the agency, with scan.pdf" in text_of(done), text_of(done)
    (relayed,) = smtp.sent_to(LIAISON)
    assert body_of(relayed).startswith("Please see the constituent's scan attached.")
    assert files_of(relayed) == [("scan.pdf", SCAN)]


def test_the_files_in_her_reply_go_to_the_constituent_and_one_too_large_is_named(office: Hub,
                                                                                 smtp: SmtpServer) -> None:
    new_case(office)
    done = reply_to_notice(office, smtp, "Pat, here is the form and the photo you asked for.",
                           ("form.pdf", SCAN, "application/pdf"), ("photo.png", PHOTO, "image/png"))
    (relayed,) = smtp.sent_to(PAT)[1:]
    assert files_of(relayed) == [("form.pdf", SCAN)], "the second file does not fit in the 5,000 bytes"
    assert done is not None, "a file left behind is worth a confirmation"
    text = " ".join(text_of(done).split())
    assert "your text goes to the constituent, with form.pdf" in text, text
    assert "photo.png (PNG image, 8.8 KB) was not sent: too large" in text, text


def test_her_signatures_picture_goes_with_her_first_reply_only_and_a_picture_she_pastes_goes(
        office: Hub, smtp: SmtpServer) -> None:
    """Outlook shows a signature's logo inside every message she writes; the hub cannot tell it from a picture
    she pastes until it has seen it before. From then on it is her signature's and stays with her."""
    new_case(office)
    done = reply_to_notice(office, smtp, "#agency ssa\n#to agency\nPlease see the scan.",
                           ("scan.pdf", SCAN, "application/pdf"), pictures=[("image001.png", LOGO)])
    assert done is not None and "- your text goes to the agency, with image001.png, scan.pdf" in text_of(done), \
        text_of(done)
    (relayed,) = smtp.sent_to(LIAISON)
    assert files_of(relayed) == [("image001.png", LOGO), ("scan.pdf", SCAN)], "a picture never seen before goes"

    reply_to_notice(office, smtp, "Pat, the agency has your scan; this is what its page shows.",
                    pictures=[("image001.png", LOGO), ("image002.png", SCREENSHOT)])
    (to_pat,) = smtp.sent_to(PAT)[1:]
    assert files_of(to_pat) == [("image002.png", SCREENSHOT)], "her logo stays; the picture she pasted goes"

    done = reply_to_notice(office, smtp, "#to agency\nAny news?", pictures=[("image001.png", LOGO)])
    assert done is not None and "- your text goes to the agency\n" in text_of(done), text_of(done)
    assert files_of(smtp.sent_to(LIAISON)[1]) == []

    done = reply_to_notice(office, smtp, "#attach image001.png\n#to agency\nOur office's logo, as asked.",
                           pictures=[("image001.png", LOGO)])
    assert done is not None and "with image001.png" in text_of(done), "named, it goes"
    assert files_of(smtp.sent_to(LIAISON)[2]) == [("image001.png", LOGO)]


# ---------------------------------------------------------------------------------------------------
# 2. #attach: files already on the case


def a_case_with_files(hub: Hub) -> str:
    """A case whose constituent sent an award letter and then a large photo."""
    ref = new_case(hub).ref
    arrive(hub, with_files(mail(f"Pat Example <{PAT}>", "casework@doe.example.gov", f"Re: [{ref}] My Medicare card",
                                "Here is my award letter."), ("award-letter.pdf", AWARD, "application/pdf"),
                           ("card photo.png", PHOTO, "image/png")))
    cycle(hub)
    return ref


def test_attach_sends_files_on_the_case_with_her_text(office: Hub, smtp: SmtpServer) -> None:
    a_case_with_files(office)
    done = reply_to_notice(office, smtp, "#attach award-letter.pdf card photo.png\n#agency ssa\n#to agency\n"
                           "The constituent's award letter is attached.")
    assert done is not None
    text = " ".join(text_of(done).split())
    assert "your text goes to the agency, with award-letter.pdf" in text, text
    assert "card photo.png (PNG image, 8.8 KB) was not sent: too large" in text, text
    (relayed,) = smtp.sent_to(LIAISON)
    assert files_of(relayed) == [("award-letter.pdf", AWARD)]


def test_attach_adds_files_to_a_letter_she_sends(office: Hub, smtp: SmtpServer) -> None:
    a_case_with_files(office)
    done = reply_to_notice(office, smtp, "#send privacy-release-request\n#attach award-letter.pdf")
    assert done is not None and f"- privacy-release-request queued for {PAT}, with award-letter.pdf" in \
        text_of(done), text_of(done)
    request = smtp.sent_to(PAT)[-1]
    assert "Your signature is needed" in subject(request)
    assert files_of(request) == [("award-letter.pdf", AWARD)]


def test_attach_names_the_release_on_file_and_an_inquiry_encloses_it_once(office: Hub, smtp: SmtpServer) -> None:
    ref = new_case(office).ref
    arrive(office, with_files(mail(f"Pat Example <{PAT}>", "casework@doe.example.gov", f"Re: [{ref}] My Medicare card",
                                   "Signed."), ("release.pdf", SCAN, "application/pdf")))
    cycle(office)
    done = reply_to_notice(office, smtp, "#agency ssa\n#release received\n#send agency-inquiry\n#attach release.pdf")
    assert done is not None and f"- agency-inquiry queued for {LIAISON}, with release.pdf" in text_of(done)
    (inquiry,) = smtp.sent_to(LIAISON)
    assert files_of(inquiry) == [("release.pdf", SCAN)]


def test_attach_with_an_unknown_name_applies_nothing_and_lists_the_files(office: Hub, smtp: SmtpServer) -> None:
    ref = a_case_with_files(office)
    before = len(smtp.sent_to(PAT))
    done = reply_to_notice(office, smtp, "#agency ssa\n#attach award.pdf\nHere you are.")
    assert done is not None and subject(done).startswith(f"[{ref}] Nothing was applied or sent")
    assert "#attach award.pdf: no file of that name on the case (its files: award-letter.pdf, card photo.png)" \
        in text_of(done), text_of(done)
    assert case_of(office, ref).agency is None
    assert len(smtp.sent_to(PAT)) == before and smtp.sent_to(LIAISON) == []


# ---------------------------------------------------------------------------------------------------
# 3. Signed once


@pytest.mark.parametrize("closing", ["Best,\nMaria", "Thanks, Maria Lopez", "Kind regards,\n\nMaria Lopez\nCaseworker"])
def test_a_reply_she_signed_is_not_signed_again(office: Hub, smtp: SmtpServer, closing: str) -> None:
    new_case(office)
    reply_to_notice(office, smtp, f"Your new card is on its way.\n\n{closing}")
    (relayed,) = smtp.sent_to(PAT)[1:]
    written = body_of(relayed)
    assert written.startswith(f"Your new card is on its way.\n\n{closing}\n\nOur reference: "), written
    assert written.count("Maria") == 1, written


def test_a_reply_she_did_not_sign_is_signed_by_the_hub(office: Hub, smtp: SmtpServer) -> None:
    new_case(office)
    reply_to_notice(office, smtp, "Your new card is on its way. Maria will call you.")
    (relayed,) = smtp.sent_to(PAT)[1:]
    assert "\n\nMaria Lopez\n" in body_of(relayed), body_of(relayed)


# ---------------------------------------------------------------------------------------------------
# 4. The text that announces a letter arrives first


def order_of(smtp: SmtpServer, *recipients: str) -> list[str]:
    return [message.rcpt_tos[0] for message in smtp.messages if message.rcpt_tos[0] in recipients]


def test_her_text_arrives_before_the_letter_it_announces(office: Hub, smtp: SmtpServer) -> None:
    new_case(office)
    first = len(smtp.messages)
    reply_to_notice(office, smtp, "#send privacy-release-request\nPat, the release form follows in a moment.")
    sent = [message for message in smtp.messages[first:] if message.rcpt_tos == (PAT,)]
    assert [body_of(message).split("\n")[0] for message in sent][0] == "Pat, the release form follows in a moment."
    assert "Your signature is needed" in subject(sent[1]) and len(sent) == 2


def test_text_to_a_new_agency_arrives_before_the_inquiry(office: Hub, smtp: SmtpServer) -> None:
    new_case(office)
    reply_to_notice(office, smtp, "#agency ssa\n#send agency-inquiry force\n#to agency\n"
                    "Our inquiry about this constituent follows.")
    relayed, inquiry = smtp.sent_to(LIAISON)
    assert body_of(relayed).startswith("Our inquiry about this constituent follows.")
    assert not body_of(inquiry).startswith("Our inquiry")


# ---------------------------------------------------------------------------------------------------
# 5. #close with her own words


def test_close_with_her_text_sends_one_closing_letter_in_her_words(office: Hub, smtp: SmtpServer) -> None:
    ref = new_case(office).ref
    done = reply_to_notice(office, smtp, "#close resolved\nPat, your corrected card was mailed today.\n\nBest,\nMaria")
    assert done is not None and "- closed (resolved)" in text_of(done)
    assert "- your text goes to the constituent in the closing letter" in text_of(done), text_of(done)
    clock = office.clock
    assert isinstance(clock, FixedClock)
    for _ in range(3):  # the sweep's closing reminder has come and gone
        clock.advance(timedelta(hours=1))
        cycle(office)
    (closing,) = smtp.sent_to(PAT)[1:]
    assert subject(closing).endswith("We have closed your case: My Medicare card")
    written = body_of(closing)
    assert "Pat, your corrected card was mailed today." in written, written
    assert "Best,\nMaria" not in written, "her sign-off gives way to the letter's own"
    assert "relay" not in {row.letter for row in outbox(office, ref)}
    assert [row.letter for row in outbox(office, ref)].count("case-closed") == 1
    assert case_of(office, ref).status == "closed"
    assert "letter-queued" in [event.kind for event in events(office, ref)]


def test_close_with_text_when_the_offices_closing_letter_has_no_place_for_it(office: Hub, smtp: SmtpServer) -> None:
    folder = office.config.resolve(office.config.letters.folder)
    folder.mkdir(exist_ok=True)
    (folder / "case-closed.email.j2").write_text("Subject: Case closed\n\nDear constituent, your case is closed.\n")
    ref = new_case(office).ref
    reply_to_notice(office, smtp, "#close resolved\nPat, your corrected card was mailed today.")
    relayed, closing = smtp.sent_to(PAT)[1:]
    assert body_of(relayed).startswith("Pat, your corrected card was mailed today."), "her words are not lost"
    assert subject(closing).endswith("Case closed")
    assert [row.letter for row in outbox(office, ref)].count("case-closed") == 1
