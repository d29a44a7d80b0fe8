"""Web forms: a submission to the office website's contact or casework form becomes mail from the person
who filled it in.

The website mails each submission from a fixed robot address ([[forms]] sender) with the person's name,
email, phone, postal address and message in the body. A notification counts as the form's only when the
office's own server vouches for its From address, as for staff and agency mail (hub.intake.authentication):
anyone can write the form's address into From:, and a forged one would open a case, and record a privacy
release, for someone else. Mail from a form's address that fails goes to triage, and so does a submission
the form's field map cannot read ("form not understood"); the message then stays the robot's.

A readable submission becomes a new InboundMessage from the person (their email, else their phone number),
its subject the form's subject field and its new text the form's message field, so that identify, thread
and route treat it as the person's own mail; the notification's raw bytes and full text stay with it.
Runs after screen, which never calls a form's mail automatic for its robot sender, and before identify.
"""

from __future__ import annotations

from dataclasses import replace
from email import message_from_bytes, policy
from email.utils import parseaddr

from hub.core.config import Config
from hub.core.config_forms import Form
from hub.core.config_table import ADDRESS
from hub.core.phones import normalise
from hub.intake.authentication import sender_verdict
from hub.intake.form_fields import normalised, read_fields
from hub.intake.identify import role_of
from hub.intake.message import InboundMessage, Submission, address_pairs
from hub.intake.parse.charsets import decode
from hub.intake.screen import OK, Screening

NOT_UNDERSTOOD = "form not understood"
# Screening verdicts a form's notification keeps: a bounce or the hub's own mail is never a submission.
# Auto-reply and list markers are not held against it: a form robot's mail carries them by nature
# (Auto-Submitted: auto-generated, or List-Unsubscribe added by the website's mail service).
KEPT_VERDICTS = ("bounce", "own-mail")
# What an unticked checkbox reads as, in the plugins' notifications.
UNTICKED = frozenset({"", "no", "n", "unchecked", "not checked", "false", "0", "off", "none", "-", "n/a"})
MAX_NAME = 200


def read_submission(message: InboundMessage, screening: Screening,
                    config: Config) -> tuple[InboundMessage, Screening]:
    """The message as the person's, screened ok, when it is a form's readable notification; the same message
    with a problem on its `form` when it claims to be a form's and is not, or cannot be read; else unchanged."""
    forms = [form for form in config.forms if form.sender == message.sender]
    if not forms or message.channel != "email" or screening.verdict in KEPT_VERDICTS:
        return message, screening
    verdict = sender_verdict(message, config)
    trusted = [form for form in forms if verdict.authenticated or not form.require_authentication]
    if not trusted:
        problem = f"from the address of web form {forms[0].name} but not authenticated: {verdict.reason}"
        return replace(message, form=Submission(forms[0].name, problem)), screening
    html = _html(message.raw)
    readings = []
    for form in trusted:
        fields = read_fields(message.text, html, dict(form.fields))
        readings.append((_submission(form, fields, message, config), fields))
    # Two forms of one website may share its address: the map that reads more of the notification is its own.
    readable = [reading for reading in readings if not reading[0].problem]
    if not readable:
        return replace(message, form=readings[0][0]), screening
    submission, fields = max(readable, key=lambda reading: len(reading[1]))
    return as_person(message, submission, fields), OK


def as_person(message: InboundMessage, submission: Submission, fields: dict[str, str]) -> InboundMessage:
    """The notification as a message from the person: the rest of the path never sees the robot's address."""
    body = fields.get("message", "")
    return replace(message, sender=submission.email or submission.phone, sender_name=submission.name,
                   subject=" ".join(fields.get("subject", "").split())[:1000] or message.subject,
                   new_text=body, nothing_new=not body, form=submission)


def _submission(form: Form, fields: dict[str, str], message: InboundMessage, config: Config) -> Submission:
    """What the fields say of the person, or why they do not say enough."""
    if not fields:
        return Submission(form.name, f"{NOT_UNDERSTOOD}: none of the labels of web form {form.name} were found")
    robots = {other.sender for other in config.forms}
    email, display_name = _email(fields.get("email", ""))
    if not email or email in robots:  # Drupal's Webform and others also put the person in Reply-To
        email, display_name = _reply_to(message, robots, config)
    phone = ""
    if fields.get("phone"):
        phone = normalise(fields["phone"], config.sms.region if config.sms else "US") or ""
    if not email and not phone:
        return Submission(form.name, f"{NOT_UNDERSTOOD}: no email address or phone number for the person "
                                     f"(web form {form.name})")
    if not (fields.get("message") or fields.get("subject") or fields.get("release_consent")):
        return Submission(form.name, f"{NOT_UNDERSTOOD}: no message (web form {form.name})")
    role = role_of(email or phone, config).role
    if role != "constituent":
        return Submission(form.name, f"web form {form.name} gives {'an' if role == 'agency' else 'a'} {role} "
                                     "address as the person's: a caseworker decides")
    name = fields.get("name") or " ".join(filter(None, (fields.get("first_name"), fields.get("last_name"))))
    signature, note = _release(form, fields)
    return Submission(form.name, email=email, phone=phone, name=" ".join((name or display_name).split())[:MAX_NAME],
                      postal_address=fields.get("address", ""), zip_code=" ".join(fields.get("zip", "").split())[:16],
                      release_signature=signature, release_note=note)


def _email(value: str) -> tuple[str, str]:
    """(address, display name) of what was typed in an email field: `pat@example.com`, `Pat <pat@…>`."""
    name, address = parseaddr(value.strip().removeprefix("mailto:"))
    address = address.strip().lower()
    return (address, name.strip()) if ADDRESS.match(address) and len(address) <= 320 else ("", "")


def _reply_to(message: InboundMessage, robots: set[str], config: Config) -> tuple[str, str]:
    for name, address in address_pairs(message.header_values("reply-to")):
        address = address.strip().lower()
        if ADDRESS.match(address) and address not in robots and not address.endswith("@" + config.office.domain):
            return address, name.strip()
    return "", ""


def _release(form: Form, fields: dict[str, str]) -> tuple[str, str]:
    """(the signature, "") for a privacy release the form gives; ("", why not) for one it seems to offer."""
    ticked = normalised(fields.get("release_consent", "")) not in UNTICKED
    signature = " ".join(fields.get("release_signature", "").split())[:MAX_NAME]
    if ticked and signature:
        return signature, ""
    if ticked:
        return "", "the form's privacy-release box is ticked but no name is typed to sign it: no release recorded"
    if signature and form.labels("release_consent"):
        return "", "a name is typed to sign the form's privacy release but its box is not ticked: no release recorded"
    return "", ""


def _html(raw: bytes) -> str:
    """The notification's HTML part, "" when it has none (or none that can be read)."""
    try:
        parsed = message_from_bytes(raw, policy=policy.compat32)
        for part in parsed.walk():
            if part.get_content_type() == "text/html" and not part.get_filename():
                data = part.get_payload(decode=True)
                return decode(data, part.get_content_charset()) if isinstance(data, bytes) else ""
    except Exception:  # a notification whose HTML cannot be read is read by its text alone
        return ""
    return ""
