"""The [[forms]] tables of hub.toml: the office website's contact and casework forms, whose notifications
come from a fixed robot address with the person's details in the body.

Each form names its `sender` (the notification's From address) and, in `fields`, the label or labels its
notification gives each case field; a field left out is read by the common labels in DEFAULT_LABELS.
"""

from __future__ import annotations

from dataclasses import dataclass

from hub.core.config_table import Table
from hub.core.config_values import Office, Staff

# The case fields a form can give, in the order a notification usually lists them.
FIELDS = ("name", "first_name", "last_name", "email", "phone", "address", "zip", "subject", "message",
          "release_consent", "release_signature")
# The labels of the common layouts (WordPress Contact Form 7, Gravity Forms, Drupal Webform, the House's
# casework forms). A privacy release has none: a release is recorded only from the fields an office names.
DEFAULT_LABELS: dict[str, tuple[str, ...]] = {
    "name": ("Name", "Full Name", "Your Name"),
    "first_name": ("First Name", "Given Name"),
    "last_name": ("Last Name", "Surname", "Family Name"),
    "email": ("Email", "E-mail", "Email Address", "E-mail Address", "Your Email"),
    "phone": ("Phone", "Phone Number", "Telephone", "Your Phone"),
    "address": ("Address", "Street Address", "Mailing Address", "Postal Address"),
    "zip": ("ZIP", "ZIP Code", "Zip/Postal Code", "Postal Code"),
    "subject": ("Subject", "Your Subject"),
    "message": ("Message", "Your Message", "Comments"),
    "release_consent": (),
    "release_signature": (),
}


@dataclass(frozen=True)
class Form:
    sender: str                                        # the notification's From address, lower-case
    name: str                                          # what notices and the case history call it
    fields: tuple[tuple[str, tuple[str, ...]], ...]    # (case field, its labels), every field of FIELDS
    require_authentication: bool = True                # false: the From address alone is believed

    def labels(self, field: str) -> tuple[str, ...]:
        return dict(self.fields)[field]


def read_forms(tables: list[Table], office: Office, staff: tuple[Staff, ...]) -> tuple[Form, ...]:
    return tuple(_form(table, office, staff) for table in tables)


def _form(table: Table, office: Office, staff: tuple[Staff, ...]) -> Form:
    sender = table.address("sender")
    if sender == office.address or any(person.email == sender for person in staff):
        raise table.fail("sender", f"{sender} is the office's or a staff member's own address, not a web form's")
    mapped = table.table("fields")
    labels: dict[str, tuple[str, ...]] = {}
    for field in FIELDS:
        value = mapped.get(field, object, None)
        labels[field] = DEFAULT_LABELS[field] if value is None else _labels(mapped, field, value)
    return Form(sender=sender, name=table.text("name", sender), fields=tuple(labels.items()),
                require_authentication=table.get("require_authentication", bool, True))


def _labels(table: Table, field: str, value: object) -> tuple[str, ...]:
    """A label or a list of labels, none of them blank."""
    found = [value] if isinstance(value, str) else value
    if not isinstance(found, list) or not found or not all(isinstance(item, str) and item.strip() for item in found):
        raise table.fail(field, f"expected a label or a list of labels, got {value!r}")
    return tuple(" ".join(str(item).split()) for item in found)
