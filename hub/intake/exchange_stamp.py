"""Exchange Online's own word on a message it delivered: its organization stamp, and its Authentication-Results
rewritten to RFC 8601 so that hub.intake.auth_results can read them.

Exchange marks mail sent from inside the organization `X-MS-Exchange-Organization-AuthAs: Internal`, and
mail from outside `Anonymous`, beside `-AuthSource` (the server that authenticated the sender) and
`-AuthMechanism` (an undocumented code; 04, 06 and 10 are seen). Its header firewall removes every
X-MS-Exchange-Organization-* header from mail that enters the organization from outside, so on a delivered
message they are Exchange's own (Exchange Server docs, "Header firewall", technet bb232136; Exchange Team
Blog, "Demystifying and troubleshooting hybrid mail flow: when is a message internal?", 2020). Exchange
appends them below the sender's headers, not on top, and with them `X-MS-Exchange-CrossTenant-Id`, the
receiving tenant. That one it strips from incoming mail as well (`X-MS-Exchange-Transport-
CrossTenantHeadersStripped`), but it leaves with outgoing mail, so anyone can copy a tenant's: it ties
the stamp to the office's tenant and proves nothing alone.

On mail from outside, Exchange writes Authentication-Results above the Received line of its front end, so
it is the topmost, in a form of its own: no authserv-id, `action=` after the DMARC result, a composite
`compauth=… reason=…`, and in older messages the tenant's domain as a bare word between results
(Microsoft Learn, "Anti-spam message headers in cloud organizations").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hub.core.config_values import TENANT_ID
from hub.intake.auth_results import unfolded
from hub.intake.message import InboundMessage

INTERNAL = "internal"
# Stands in for the authserv-id Exchange Online leaves out; its Received-SPF names this receiver.
EXCHANGE = "protection.outlook.com"
# A value that starts with a result (`spf=pass …`) has no authserv-id: Exchange Online's form.
STARTS_WITH_RESULT = re.compile(r"\s*[A-Za-z][A-Za-z0-9_-]*\s*=")
# `action=` after dmarc is Exchange's addition to RFC 8601 (strict parsing refuses it); `reason=` is standard.
ACTION = re.compile(r"\baction\s*=\s*[A-Za-z0-9._-]+")
# `…header.d=none;outlook.com; dmarc=…`: the tenant's domain as a result of its own, in older messages.
BARE_DOMAIN = re.compile(r";\s*(?:[A-Za-z0-9-]+\.)+[A-Za-z0-9-]+\s*(?=;|$)")


@dataclass(frozen=True)
class ExchangeStamp:
    """Every value of the headers Exchange stamps, as written (spaces collapsed, lower-cased)."""

    auth_as: tuple[str, ...]         # X-MS-Exchange-Organization-AuthAs
    auth_source: tuple[str, ...]     # X-MS-Exchange-Organization-AuthSource
    tenants: tuple[str, ...]         # X-MS-Exchange-CrossTenant-Id
    tenant_auth_as: tuple[str, ...]  # X-MS-Exchange-CrossTenant-AuthAs

    @property
    def claims_internal(self) -> bool:
        return INTERNAL in self.auth_as


def stamp_of(message: InboundMessage) -> ExchangeStamp:
    def values(name: str) -> tuple[str, ...]:
        return tuple(" ".join(value.split()).lower() for value in message.header_values(name))

    return ExchangeStamp(auth_as=values("x-ms-exchange-organization-authas"),
                         auth_source=values("x-ms-exchange-organization-authsource"),
                         tenants=values("x-ms-exchange-crosstenant-id"),
                         tenant_auth_as=values("x-ms-exchange-crosstenant-authas"))


def internal_doubt(stamp: ExchangeStamp, tenant: str) -> str:
    """Why the stamp does not vouch for mail from inside `tenant` ("" when it does)."""
    if stamp.auth_as != (INTERNAL,):
        # Exchange writes one; a second (or a different one beside it) came from the sender.
        return f"X-MS-Exchange-Organization-AuthAs appears as {', '.join(stamp.auth_as)}; Exchange writes it once"
    if not TENANT_ID.fullmatch(tenant):
        return "no [oauth2] tenant id to hold Exchange's tenant stamp against"
    if not stamp.tenants:
        return "internal mail without X-MS-Exchange-CrossTenant-Id: no tenant to hold against [oauth2] tenant"
    others = sorted(set(stamp.tenants) - {tenant})
    if others:
        return f"internal mail of Microsoft 365 tenant {', '.join(others)}, not of this office's tenant {tenant}"
    if any(value != INTERNAL for value in stamp.tenant_auth_as):
        return f"X-MS-Exchange-CrossTenant-AuthAs says {', '.join(stamp.tenant_auth_as)}, not internal"
    return ""


def exchange_results(value: str) -> str | None:
    """Exchange Online's Authentication-Results as RFC 8601 with `EXCHANGE` as authserv-id; None when the value
    names an authserv-id of its own, as no header Exchange Online writes does."""
    text = unfolded(value).strip()
    if not STARTS_WITH_RESULT.match(text):
        return None
    text = BARE_DOMAIN.sub("", ACTION.sub("", text)).strip().rstrip(";").strip()
    return f"{EXCHANGE}; {text}"
