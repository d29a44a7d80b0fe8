"""Phone numbers: one written form (E.164) for every number the hub stores or compares, and the time
zone a number most likely rings in (for quiet hours), both from the `phonenumbers` library.
"""

from __future__ import annotations

import phonenumbers
from phonenumbers import timezone as number_zones


def normalise(text: str, region: str = "US") -> str | None:
    """`+19195550142` for `(919) 555-0142`, `919.555.0142` or `+1 919 555 0142`; None when it is no
    phone number (a short code, an alphanumeric sender, a typo)."""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def is_phone_number(text: str) -> bool:
    """True for a number written in E.164 (`+` and digits) that could be a real line."""
    return text.startswith("+") and normalise(text) == text


def zone_of(number: str, default: str) -> str:
    """The IANA time zone of a number when its area code has exactly one, else `default`."""
    try:
        zones = number_zones.time_zones_for_number(phonenumbers.parse(number, None))
    except phonenumbers.NumberParseException:
        return default
    known = [zone for zone in zones if zone != number_zones.UNKNOWN_TIMEZONE]
    return known[0] if len(known) == 1 else default


def spoken(number: str) -> str:
    """`(919) 555-0142` for a US number, `+44 20 7946 0958` for others: how people read a number."""
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return number
    style = (phonenumbers.PhoneNumberFormat.NATIONAL if parsed.country_code == 1
             else phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    return phonenumbers.format_number(parsed, style)
