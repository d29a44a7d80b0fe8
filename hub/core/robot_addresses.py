"""Addresses that belong to machines: bounce senders, which intake reads bounces from, and no-reply
addresses; delivery never sends automatic mail to either."""

from __future__ import annotations

import re

# Local parts MTAs send bounces from. `post_master` is Verizon's (sisimai lhost-verizon-02,
# lhost-apachejames-01); `mdaemon` is the MDaemon server's (flufl simple_01).
BOUNCE_SENDERS = re.compile(
    r"^(mailer-daemon|postmaster|post_master|mail-daemon|mail\.daemon|mdaemon|bounces?)([+@.-]|$)", re.I)
# Addresses no robot should write to: their mail is never read, or it answers back.
ROBOT_ADDRESS = re.compile(r"^(no-?reply|do-?not-?reply|noreply-[\w-]+|notifications?)([+@.-]|$)", re.I)
