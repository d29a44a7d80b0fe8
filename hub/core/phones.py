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


def zone_of(number: str, default: str) -> str:
    """The IANA time zone of a number when its area code has exactly one, else `default`."""
    try:
        zones = number_zones.time_zones_for_number(phonenumbers.parse(number, None))
    except phonenumbers.NumberParseException:
        return default
    known = [zone for zone in zones if zone != number_zones.UNKNOWN_TIMEZONE]
    return known[0] if len(known) == 1 else default

