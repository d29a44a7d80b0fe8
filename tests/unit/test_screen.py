"""Screening, rule by rule: small hand-built messages, each built with EmailMessage and read by parse_email."""

from __future__ import annotations

from email.message import EmailMessage, Message

import pytest

from hub.channels.email_parse import parse_email
from hub.intake.message import InboundMessage
from hub.intake.screen import CHECKS, Screening, screen

OFFICE_DOMAIN = "doe.example.gov"
OFFICE = f"casework@{OFFICE_DOMAIN}"
AGENCY = "liaison@agency.example.org"
OUR_ID = f"<hub.cw2600042k7.abc@{OFFICE_DOMAIN}>"


def message(sender: str = "Pat Example <pat@example.com>", subject: str = "Help with my benefits",
            body: str = "My benefits letter never arrived.", headers: dict[str, str] | None = None,
            message_id: str = "<20261123.1@example.com>", to: str = OFFICE) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = to
    mail["Subject"] = subject
    mail["Message-ID"] = message_id
    for name, value in (headers or {}).items():
        mail[name] = value
    mail.set_content(body)
    return mail


def inbound(mail: Message) -> InboundMessage:
    return parse_email(mail.as_bytes(), "test", 10_000_000)


def screened(mail: Message) -> Screening:
    return screen(inbound(mail), OFFICE_DOMAIN)


def original() -> EmailMessage:
    """The hub's own letter to the agency, as a bounce returns it."""
    return message(sender=f"Constituent Services <{OFFICE}>", subject="Congressional inquiry CW-26-00042-K7",
                   body="Dear liaison, please see the enclosed privacy release.", message_id=OUR_ID, to=AGENCY)


def dsn(blocks: list[dict[str, str]], container: str = "report") -> EmailMessage:
    """An RFC 3464 report: notice, message/delivery-status (one header block per recipient), the original."""
    report = EmailMessage()
    report["From"] = "Mail Delivery System <MAILER-DAEMON@mx.agency.example.org>"
    report["To"] = OFFICE
    report["Subject"] = "Undelivered Mail Returned to Sender"
    report["Message-ID"] = "<report.1@mx.agency.example.org>"
    report.make_mixed()
    if container == "report":
        report.set_type("multipart/report")
        report.set_param("report-type", "delivery-status")
    notice = EmailMessage()
    notice.set_content("This is the mail system at host mx.agency.example.org.\n")
    status = EmailMessage()
    status["Content-Type"] = "message/delivery-status"
    per_message = Message()
    per_message["Reporting-MTA"] = "dns; mx.agency.example.org"
    per_recipient = []
    for fields in blocks:
        block = Message()
        for name, value in fields.items():
            block[name] = value
        per_recipient.append(block)
    status.set_payload([per_message, *per_recipient])
    returned = EmailMessage()
    returned.set_content(original())
    for part in (notice, status, returned):
        report.attach(part)
    return report


# --- ordinary mail ---------------------------------------------------------------------------------------

def test_a_plain_constituent_message_is_ok() -> None:
    verdict = screened(message())
    assert verdict.verdict == "ok"
    assert not verdict.is_automatic
    assert verdict.failed_recipients == () and verdict.returned_ids == ()


@pytest.mark.parametrize("subject", ["Absence of any reply from the VA", "Automatic deposits stopped",
                                     "Re: Out of pocket costs for my surgery"])
def test_ordinary_subjects_that_resemble_out_of_office_ones_are_ok(subject: str) -> None:
    assert screened(message(subject=subject)).verdict == "ok"


# --- auto-replies (RFC 3834 and the vendor markers) ------------------------------------------------------

@pytest.mark.parametrize("value", ["auto-replied", "auto-generated", "auto-notified; owner-email=x@example.com"])
def test_auto_submitted_other_than_no_is_an_auto_reply(value: str) -> None:
    verdict = screened(message(headers={"Auto-Submitted": value, "In-Reply-To": OUR_ID}))
    assert verdict.verdict == "auto-reply"
    assert verdict.returned_ids == (OUR_ID,)


@pytest.mark.parametrize("value", ["no", "No", " no "])
def test_auto_submitted_no_is_ok(value: str) -> None:
    assert screened(message(headers={"Auto-Submitted": value})).verdict == "ok"


@pytest.mark.parametrize("header", ["X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress"])
def test_vendor_auto_reply_headers(header: str) -> None:
    verdict = screened(message(headers={header: "yes" if header != "X-Auto-Response-Suppress" else "All"}))
    assert verdict.verdict == "auto-reply"
    assert header.lower() in verdict.reason


@pytest.mark.parametrize(("value", "verdict"), [("bulk", "list"), ("list", "list"), ("junk", "auto-reply"),
                                                ("auto_reply", "auto-reply"), ("Bulk", "list")])
def test_precedence(value: str, verdict: str) -> None:
    result = screened(message(headers={"Precedence": value}))
    assert result.verdict == verdict
    assert result.is_automatic


def test_precedence_first_class_is_ok() -> None:
    assert screened(message(headers={"Precedence": "first-class"})).verdict == "ok"


@pytest.mark.parametrize("header", ["List-Id", "List-Unsubscribe"])
def test_mailing_list_headers(header: str) -> None:
    assert screened(message(headers={header: "<news.example.org>"})).verdict == "list"


@pytest.mark.parametrize(("headers", "subject"), [
    ({"X-MS-Exchange-Inbox-Rules-Loop": "liaison@agency.example.org"}, "Re: Inquiry"),
    ({"X-MS-Exchange-Generated-Message-Source": "Mailbox Rules Agent"}, "Re: Inquiry"),
    ({}, "Automatic reply: Congressional inquiry CW-26-00042-K7"),
    ({}, "Out of Office: Congressional inquiry"),
])
def test_exchange_out_of_office(headers: dict[str, str], subject: str) -> None:
    assert screened(message(sender=AGENCY, subject=subject, headers=headers)).verdict == "auto-reply"


def test_read_receipts_and_feedback_reports_are_automatic_but_not_bounces() -> None:
    for report_type in ("disposition-notification", "feedback-report"):
        mail = message(sender=AGENCY)
        mail.make_mixed()
        mail.set_type("multipart/report")
        mail.set_param("report-type", report_type)
        assert screened(mail).verdict == "auto-reply", report_type


# --- bounces -------------------------------------------------------------------------------------------------

def test_a_delivery_status_report_gives_the_failed_recipient_and_the_returned_message_id() -> None:
    verdict = screened(dsn([{"Final-Recipient": f"rfc822; {AGENCY}", "Action": "failed", "Status": "5.1.1"}]))
    assert verdict.verdict == "bounce"
    assert verdict.failed_recipients == (AGENCY,)
    assert OUR_ID in verdict.returned_ids


def test_a_delay_warning_gives_no_failed_recipients() -> None:
    verdict = screened(dsn([{"Final-Recipient": f"rfc822; {AGENCY}", "Action": "delayed", "Status": "4.4.7"}]))
    assert verdict.verdict == "bounce"
    assert "delayed" in verdict.reason
    assert verdict.failed_recipients == ()
    assert OUR_ID in verdict.returned_ids


def test_only_the_failed_recipients_of_a_mixed_report_count() -> None:
    verdict = screened(dsn([
        {"Final-Recipient": "rfc822; first@agency.example.org", "Action": "delayed", "Status": "4.2.2"},
        {"Final-Recipient": "rfc822; second@agency.example.org", "Action": "failed", "Status": "5.2.1"},
    ]))
    assert verdict.failed_recipients == ("second@agency.example.org",)


def test_a_success_report_is_not_a_bounce() -> None:
    verdict = screened(dsn([{"Final-Recipient": f"rfc822; {AGENCY}", "Action": "delivered", "Status": "2.0.0"}]))
    assert verdict.verdict == "auto-reply"
    assert verdict.failed_recipients == ()


def test_the_address_we_sent_to_wins_over_the_final_alias() -> None:
    verdict = screened(dsn([{"Original-Recipient": f"rfc822; {AGENCY}", "Final-Recipient": "rfc822; lia@mbox-7",
                             "Action": "failed", "Status": "5.2.2"}]))
    assert verdict.failed_recipients == (AGENCY,)


def test_non_standard_action_spelling_and_x400_final_recipient() -> None:
    verdict = screened(dsn([{"Original-Recipient": f"rfc822; {AGENCY}", "Final-Recipient": "x400; /S=liaison/C=US/",
                             "Action": "failure", "Status": "5.0.0"}]))
    assert verdict.failed_recipients == (AGENCY,)


def test_a_delivery_status_part_inside_multipart_mixed_is_still_a_report() -> None:
    mail = dsn([{"Final-Recipient": f"rfc822; {AGENCY}", "Action": "failed"}], container="mixed")
    del mail["From"]
    mail["From"] = "Gateway <gateway@mx.agency.example.org>"
    verdict = screened(mail)
    assert verdict.verdict == "bounce"
    assert verdict.failed_recipients == (AGENCY,)


FREE_TEXT_BOUNCE = f"""This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  {AGENCY}
    host mx.agency.example.org [192.0.2.7]
    SMTP error from remote mail server after RCPT TO:<{AGENCY}>:
    550 5.1.1 User unknown

------ This is a copy of the message, including all the headers. ------

From: Constituent Services <{OFFICE}>
To: {AGENCY}
Cc: deputy@agency.example.org
Subject: Congressional inquiry CW-26-00042-K7
Message-ID: {OUR_ID}

Please reply to press@elsewhere.example.com as well.
"""


@pytest.mark.parametrize("sender", ["Mail Delivery System <Mailer-Daemon@mx.example.net>",
                                    "postmaster@agency.example.org", "MAILER-DAEMON@agency.example.org",
                                    "mailer-daemon", "Mail Delivery Subsystem <mailer-daemon>"])
def test_bounce_senders(sender: str) -> None:
    verdict = screened(message(sender=sender, subject="Mail delivery failed", body=FREE_TEXT_BOUNCE))
    assert verdict.verdict == "bounce"
    assert verdict.failed_recipients == (AGENCY,)
    assert OUR_ID in verdict.returned_ids


def test_exim_bounce_marked_auto_replied_is_still_a_bounce() -> None:
    # Exim sets Auto-Submitted: auto-replied on its bounces (sisimai lhost-exim-*); the address must not be lost.
    verdict = screened(message(sender="Mail Delivery System <Mailer-Daemon@mx.example.net>",
                               subject="Mail delivery failed: returning message to sender", body=FREE_TEXT_BOUNCE,
                               headers={"Auto-Submitted": "auto-replied", "X-Failed-Recipients": AGENCY}))
    assert verdict.verdict == "bounce"
    assert verdict.failed_recipients == (AGENCY,)


def test_x_failed_recipients_alone_marks_a_bounce() -> None:
    verdict = screened(message(sender="Mail System <mail@relay.example.net>", subject="Failure",
                               body="Delivery failed.", headers={"X-Failed-Recipients": AGENCY}))
    assert verdict.verdict == "bounce"
    assert verdict.failed_recipients == (AGENCY,)


def test_an_empty_return_path_marks_a_bounce() -> None:
    verdict = screened(message(sender="Notifier <notify@relay.example.net>", subject="Undeliverable",
                               body=FREE_TEXT_BOUNCE, headers={"Return-Path": "<>"}))
    assert verdict.verdict == "bounce"
    assert verdict.failed_recipients == (AGENCY,)


def test_an_auto_reply_with_an_empty_return_path_stays_an_auto_reply() -> None:
    # RFC 3834 §3.3 asks auto-responders to use the null reverse-path too.
    verdict = screened(message(sender=AGENCY, subject="Away until Monday",
                               headers={"Return-Path": "<>", "Auto-Submitted": "auto-replied"}))
    assert verdict.verdict == "auto-reply"


def test_a_free_text_delay_warning_gives_no_failed_recipients() -> None:
    body = f"""This message was created automatically by mail delivery software.
A message that you sent has not yet been delivered to one or more of its
recipients after more than 24 hours on the queue on mx.example.net.

  {AGENCY}

No action is required on your part. Delivery attempts will continue for some time.
"""
    verdict = screened(message(sender="Mail Delivery System <Mailer-Daemon@mx.example.net>",
                               subject="Warning: message 1aBc-000 delayed 24 hours", body=body))
    assert verdict.verdict == "bounce"
    assert verdict.failed_recipients == ()


def test_free_text_never_reports_an_office_address() -> None:
    body = f"Delivery to the following recipients failed.\n\n  casework+cw2600042k7@{OFFICE_DOMAIN}\n  {AGENCY}\n"
    verdict = screened(message(sender="postmaster@relay.example.net", subject="Delivery failure", body=body))
    assert verdict.failed_recipients == (AGENCY,)


# --- our own mail ------------------------------------------------------------------------------------------

def test_our_message_id_from_the_office_domain_is_own_mail() -> None:
    verdict = screened(message(sender=f"Constituent Services <{OFFICE}>", message_id=OUR_ID))
    assert verdict.verdict == "own-mail"


def test_a_hub_like_message_id_from_another_domain_is_not_own_mail() -> None:
    verdict = screened(message(message_id="<hub.cw2600042k7.abc@other.example.gov>"))
    assert verdict.verdict == "ok"


def test_the_loop_header_is_own_mail() -> None:
    verdict = screened(message(headers={"X-Casework-Hub-Loop": OFFICE_DOMAIN}))
    assert verdict.verdict == "own-mail"


def test_own_mail_is_decided_before_anything_else() -> None:
    verdict = screened(message(sender=f"MAILER-DAEMON@{OFFICE_DOMAIN}", message_id=OUR_ID,
                               headers={"Auto-Submitted": "auto-generated", "Precedence": "bulk"}))
    assert verdict.verdict == "own-mail"
    assert CHECKS[0].__name__ == "_own_mail"


# --- not email ---------------------------------------------------------------------------------------------

def test_an_sms_passes_screening() -> None:
    sms = InboundMessage(channel="sms", source="twilio", dedupe_key="sid:SM1", raw=b"Body=Hello",
                         sender="+15555550100", text="Hello")
    assert screen(sms, OFFICE_DOMAIN).verdict == "ok"
