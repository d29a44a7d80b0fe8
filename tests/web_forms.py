"""Web-form notifications as three common plugins mail them, written for these tests: a WordPress Contact
Form 7 plain-text mail, a casework authorization form's HTML table (Gravity Forms / House "IQ" style, with
first and last name, address, ZIP, a privacy-release checkbox and a typed signature), and a Drupal Webform
plain-text mail with the person in Reply-To. And the [[forms]] tables an office writes for them."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from tests.helpers import OFFICE_ADDRESS, START

CONTACT_FORM = "wordpress@doe.example.gov"
CASEWORK_FORM = "noreply@forms.doe.example.gov"
WEBFORM = "webmaster@doe.example.gov"
SERVER = "mx.doe.example.gov"
RECEIVED = (f"from web1.doe.example.gov (web1.doe.example.gov [192.0.2.80]) by {SERVER} with ESMTPS id 4Qx; "
            "Mon, 23 Nov 2026 14:00:02 +0000")

FORMS_CONFIG = f'''
[[forms]]
sender = "{CONTACT_FORM}"
name = "Contact"

[[forms]]
sender = "{CASEWORK_FORM}"
name = "Casework authorization"
[forms.fields]
phone = "Daytime Phone"
address = ["Street Address", "City", "State"]
message = "Please describe your issue"
release_consent = "Privacy Act Authorization"
release_signature = "Electronic Signature"

[[forms]]
sender = "{WEBFORM}"
name = "Request help"
'''


def vouched_for(sender: str) -> str:
    domain = sender.rsplit("@", 1)[1]
    return f"{SERVER}; dkim=pass header.d={domain}; spf=pass smtp.mailfrom={domain}; dmarc=pass header.from={domain}"


def notification(sender: str, subject: str, text: str = "", html: str = "", authenticated: bool = True,
                 headers: dict[str, str] | None = None) -> bytes:
    """The website's mail as the office's server delivers it: its Authentication-Results above its Received
    line when the server vouched for the website, none when it did not."""
    message = EmailMessage()
    if authenticated:
        message["Authentication-Results"] = vouched_for(sender)
    message["Received"] = RECEIVED
    message["From"] = sender
    message["To"] = OFFICE_ADDRESS
    message["Subject"] = subject
    message["Date"] = format_datetime(START)
    message["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[1])
    for name, value in (headers or {}).items():
        message[name] = value
    if text:
        message.set_content(text)
        if html:
            message.add_alternative(html, subtype="html")
    else:
        message.set_content(html, subtype="html")
    return message.as_bytes()


def contact_form(name: str = "Pat Rivera", email: str = "pat.rivera@example.com", phone: str = "(919) 555-0142",
                 subject: str = "Passport for my daughter",
                 message: str = "My daughter's passport application has been pending for ten weeks.\n\n"
                                "We fly to Lima on December 4 for my mother's surgery.",
                 authenticated: bool = True, sender: str = CONTACT_FORM) -> bytes:
    """WordPress Contact Form 7, with the mail template an office typically writes."""
    lines = [f"Name: {name}"] if name else []
    lines += [f"Email: {email}"] if email else []
    lines += [f"Phone: {phone}"] if phone else []
    text = "\n".join([*lines, f"Subject: {subject}", "", "Message:", message, "", "-- ",
                      "This e-mail was sent from a contact form on Office of Representative Jane Doe "
                      "(https://doe.example.gov)"])
    return notification(sender, f'Office of Representative Jane Doe "{subject}"', text=text,
                        authenticated=authenticated,
                        headers={"X-Mailer": "PHPMailer 6.9.1 (https://github.com/PHPMailer/PHPMailer)"})


def _row(label: str, value: str) -> str:
    return (f'<tr><th style="text-align:left;background:#eaf2fa;padding:6px">{label}</th>'
            f'<td style="padding:6px">{value}</td></tr>\n')


def casework_form(release: bool = True, signature: str = "Robert J. Chen", authenticated: bool = True) -> bytes:
    """A casework authorization form's notification: HTML only, a table in a layout table."""
    rows = "".join(_row(label, value) for label, value in [
        ("First Name", "Robert"), ("Last Name", "Chen"), ("Email Address", "rchen58@example.org"),
        ("Daytime Phone", "919-555-0187"), ("Street Address", "1412 Cedar Fork Rd"), ("City", "Durham"),
        ("State", "NC"), ("ZIP Code", "27713"), ("Federal Agency", "Department of Veterans Affairs"),
        ("Please describe your issue", "I filed a disability claim for hearing loss in March.<br>\n"
                                       "The VA has not scheduled my exam and my claim shows no progress."),
        ("Privacy Act Authorization", "I authorize the Office of Representative Jane Doe to request my records"
                                      if release else ""),
        ("Electronic Signature", signature),
        ("Date Signed", "11/23/2026"),
    ])
    html = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><style>th {{ font-family: Arial; }}</style></head>
<body>
<table width="100%" cellpadding="0" cellspacing="0" border="0"><tr><td>
<h2>New submission: Casework Authorization Form</h2>
<table width="640" cellpadding="0" cellspacing="0" border="1" style="border-collapse:collapse">
{rows}</table>
<p style="font-size:11px;color:#666">Submitted from https://doe.example.gov/help-with-a-federal-agency/ at
10:41 am on November 23, 2026.</p>
</td></tr></table>
</body></html>
"""
    return notification(CASEWORK_FORM, "New submission from Casework Authorization Form", html=html,
                        authenticated=authenticated,
                        headers={"Auto-Submitted": "auto-generated",
                                 "List-Unsubscribe": "<https://mail.example.net/unsubscribe/8f3a>"})


def webform(reply_to: str = "Lucía Gómez <lucia.gomez@example.net>", message: str | None = None) -> bytes:
    """Drupal's Webform: "Label: value" lines, the email element left out of the mail, the person in Reply-To."""
    text = "\n".join([
        "Submitted on Mon, 11/23/2026 - 09:12",
        "Submitted by: Anonymous",
        "",
        "Submitted values are:",
        "",
        "Your Name: Lucía Gómez",
        "Phone: 984-555-0123",
        "Address: 88 Alston Ave",
        "Durham, NC",
        "ZIP Code: 27701",
        "Topic: Immigration",
        "Your Message:",
        message or "Mi solicitud de residencia (I-485) lleva 14 meses sin respuesta.\n"
                   "USCIS me pidió huellas en mayo y no he sabido nada más.",
    ])
    return notification(WEBFORM, "Webform submission from: Request help with a federal agency", text=text,
                        headers={"Reply-To": reply_to} if reply_to else None)
