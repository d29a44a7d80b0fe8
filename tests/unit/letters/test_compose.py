"""What the hub sends carries the reference everywhere, and says whether a robot or a person wrote it."""

from __future__ import annotations

import json
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from hub.core.config import Config, load
from hub.core.refs import References
from hub.letters.compose import (
    Attachment,
    HtmlPart,
    InlineImage,
    Outgoing,
    attachment_context,
    carried_attachments,
    carried_html,
    compose,
    html_context,
)
from hub.run.office import init_office
from tests.helpers import START


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    return load(init_office(tmp_path_factory.mktemp("office")))


def sent(config: Config, **fields: object) -> tuple[object, References]:
    refs = References(config.office.reference_prefix, config.office.secret)
    ref = str(refs.make(26, 42))
    values: dict[str, object] = dict(recipient="pat@example.com", subject="We received your message",
                                     body="Dear Pat,\n\nThank you.", message_id=refs.message_id("doe.example.gov",
                                                                                             refs.parse(ref)),
                                     case_ref=ref)
    values.update(fields)
    raw = compose(Outgoing(**values), config, refs, START)  # type: ignore[arg-type]
    return message_from_bytes(raw, policy=policy.default), refs


def test_the_reference_travels_in_subject_reply_to_message_id_and_footer(config: Config) -> None:
    message, refs = sent(config, in_reply_to="<abc@example.com>", references="<root@example.com>")
    reference = refs.find_in_text(str(message["Subject"]))
    assert reference is not None and str(message["Subject"]).startswith(f"[{reference}] ")
    assert refs.find_in_address(str(message["Reply-To"])) == reference
    assert refs.find_in_message_ids([str(message["Message-ID"])]) == reference
    assert f"Our reference: {reference}" in message.get_content()
    assert message["In-Reply-To"] == "<abc@example.com>"
    assert message["References"] == "<root@example.com> <abc@example.com>"
    assert message["From"].addresses[0].addr_spec == config.office.address


def test_automatic_mail_says_so_and_a_caseworker_letter_does_not(config: Config) -> None:
    automatic, _ = sent(config, automatic="auto-replied")
    assert automatic["Auto-Submitted"] == "auto-replied"
    assert automatic["X-Auto-Response-Suppress"] == "OOF, AutoReply"
    assert automatic["X-Casework-Hub-Loop"] == config.office.address
    written, _ = sent(config)
    assert all(written[name] is None for name in ("Auto-Submitted", "X-Auto-Response-Suppress",
                                                   "X-Casework-Hub-Loop"))


def test_mail_to_an_agency_repeats_its_control_number_once(config: Config) -> None:
    message, _ = sent(config, subject="Congressional inquiry", agency_control="2026-CI-01234")
    assert str(message["Subject"]).endswith("Congressional inquiry (your ref. 2026-CI-01234)")
    again, _ = sent(config, subject="Re: Control 2026-CI-01234", agency_control="2026-CI-01234")
    assert str(again["Subject"]).count("2026-CI-01234") == 1


def test_an_attachment_goes_with_the_letter(config: Config, tmp_path: Path) -> None:
    form = tmp_path / "release.pdf"
    form.write_bytes(b"%PDF-1.4 release form")
    message, _ = sent(config, attachments=(Attachment.from_path(form),))
    (part,) = list(message.iter_attachments())
    assert part.get_filename() == "release.pdf" and part.get_content() == b"%PDF-1.4 release form"
    assert part.get_content_type() == "application/pdf"


def test_a_text_attachment_kept_on_the_outbox_row_goes_with_its_parameters(config: Config) -> None:
    invitation = Attachment("followup.ics", "text/calendar; method=PUBLISH; charset=utf-8",
                            b"BEGIN:VCALENDAR\r\nMETHOD:PUBLISH\r\nEND:VCALENDAR\r\n")
    context = {"attachments": attachment_context(invitation)}
    assert carried_attachments(context) == (invitation,), "kept as JSON on the row and read back the same"
    message, _ = sent(config, attachments=carried_attachments(context))
    (part,) = list(message.iter_attachments())
    assert part.get_content_type() == "text/calendar" and part.get_param("method") == "PUBLISH"
    assert part.get_filename() == "followup.ics" and "METHOD:PUBLISH" in part.get_content()


def test_mail_to_staff_has_its_text_and_footer_between_notice_markers(config: Config) -> None:
    notice, refs = sent(config, recipient="maria.lopez@doe.example.gov", subject="New case", body="New case\n\nCase: X",
                        to_staff=True)
    reference = refs.find_in_text(str(notice["Subject"]))
    lines = notice.get_content().rstrip("\n").splitlines()
    assert lines[0] == f"----- casework-hub notice {reference}: reply above this line -----"
    assert lines[-1] == f"----- end of casework-hub notice {reference} -----"
    assert lines[-3].startswith(f"Our reference: {reference}"), "the footer is inside the markers"
    assert len(lines[0]) <= 72 and len(lines[-1]) <= 72, "short enough to survive `> > ` quoting unwrapped"
    letter, _ = sent(config)
    assert "casework-hub notice" not in letter.get_content()


def test_a_bounce_report_a_notice_encloses_goes_as_text(config: Config) -> None:
    report = b"Reporting-MTA: dns; mx.example.com\r\n\r\nFinal-Recipient: rfc822; pat@example.com\r\nAction: failed\r\n"
    message, _ = sent(config, to_staff=True, attachments=(Attachment("delivery-status.txt", "message/delivery-status",
                                                                     report),))
    (part,) = list(message.iter_attachments())
    assert part.get_filename() == "delivery-status.txt" and part.get_content_type() == "text/plain"
    assert part.get_payload(decode=True) == report


# The smallest PNG there is: one white pixel.
PIXEL = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                      "1f15c4890000000d49444154789c63f8ffff3f0005fe02fea7d6a4f50000000049454e44ae426082")


def test_an_html_alternative_carries_its_images_as_related_parts(config: Config) -> None:
    part = HtmlPart('<p>Chart:</p><img src="cid:chart-year.2026-W47@doe.example.gov" alt="a chart">',
                    (InlineImage("chart-year.2026-W47@doe.example.gov", "image/png", PIXEL, "year.png"),))
    kept = carried_html(json.loads(json.dumps({"html": html_context(part)})))  # as the outbox row's JSON keeps it
    assert kept == part
    message, _ = sent(config, html=kept, attachments=carried_attachments({"attachments": attachment_context(
        Attachment("report.csv", "text/csv; charset=utf-8", b"a,b\r\n"))}))
    assert message.get_content_type() == "multipart/mixed"
    alternative, attached = message.iter_parts()
    assert alternative.get_content_type() == "multipart/alternative"
    text, related = alternative.iter_parts()
    assert text.get_content_type() == "text/plain" and related.get_content_type() == "multipart/related"
    html, image = related.iter_parts()
    assert html.get_content_type() == "text/html" and "cid:chart-year.2026-W47@doe.example.gov" in html.get_content()
    assert image["Content-ID"] == "<chart-year.2026-W47@doe.example.gov>"
    assert image.get_content_disposition() == "inline" and image.get_payload(decode=True) == PIXEL
    assert attached.get_filename() == "report.csv"
    assert message.get_body(("plain",)) is text and message.get_body(("html",)) is html


def test_a_row_without_html_is_text_alone(config: Config) -> None:
    assert carried_html({"attachments": []}) is None
    message, _ = sent(config)
    assert message.get_content_type() == "text/plain"


@pytest.mark.parametrize(("name", "value"), [
    ("From", '"Office of Rep. Doe" <office@doe.example.gov>'),
    ("From", "=?utf-8?b?T2ZpY2luYSBkZSBsYSBSZXAuIE3DoXJxdWV6?= <office@doe.example.gov>"),
    ("To", "pat@example.com"),
    ("To", "Pat O'Brien <pat@example.com>"),
    ("Reply-To", "office+" + "x" * 80 + "@doe.example.gov"),
    ("Date", "Mon, 23 Nov 2026 14:05:00 +0000"),
    ("Auto-Submitted", "auto-replied"),
    ("X-Auto-Response-Suppress", "OOF, AutoReply"),
    ("X-Loop", "Ofícina <office@doe.example.gov>"),
])
def test_a_header_parsed_once_writes_the_same_bytes_as_one_parsed_each_time(name: str, value: str) -> None:
    from email.message import EmailMessage

    from hub.letters.compose import _header

    each_time, once, again = EmailMessage(), EmailMessage(), EmailMessage()
    each_time[name] = value
    once[name] = _header(name, value)
    again[name] = _header(name, value)  # the object kept from the first
    assert once.as_bytes(policy=policy.SMTP) == each_time.as_bytes(policy=policy.SMTP) == \
        again.as_bytes(policy=policy.SMTP)


def test_a_header_value_of_several_lines_is_refused_as_before() -> None:
    from hub.letters.compose import _header

    with pytest.raises(ValueError, match="linefeed"):
        _header("To", "pat@example.com\r\nBcc: eve@example.com")
