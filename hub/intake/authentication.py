"""Authentication: does the office's own mail system vouch for the sender of this message?

Staff commands change cases and agency answers move them on, so a message only counts as a staff member's
or an agency's when the mail system the office runs says who sent it ([office] mail_system), never its From
line alone; the From header must name exactly the sender's address. Doubt means no.

- "authres" (any server that writes RFC 8601): Authentication-Results from [office] authserv_id, the ones
  above the server's own Received line (hub.intake.parse.email keeps only those; a header a sender wrote
  sits below it), showing `dmarc=pass` for the From domain, or an aligned `dkim=pass` or `spf=pass` (DMARC
  relaxed alignment, RFC 7489 §3.1: the From domain is the result's domain or a subdomain of it).
- "google" (Gmail, Google Workspace): the same judgement of the topmost Authentication-Results, which must
  be mx.google.com's: Google puts its own below the Received line of its front end but above everything
  that came with the message. Where Google added an ARC set (the topmost, with the highest instance), its
  ARC-Authentication-Results must vouch as well.
- "microsoft365" (Exchange Online): mail between mailboxes of the tenant carries no DKIM signature and fails
  SPF, so staff mail counts when Exchange's organization stamp says Internal for the office's tenant
  (hub.intake.exchange_stamp); everything else by the Authentication-Results Exchange writes on top, in
  which `compauth`, Microsoft's composite verdict, must pass too.

An unreadable header that could be the trusted one, results that contradict each other, or a `dmarc=fail`
for the From domain mean no; reading the results themselves is hub.intake.auth_results.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hub.core.config import Config
from hub.intake.auth_results import (
    METHODS,
    Finding,
    Unusable,
    arc_instance,
    composite,
    findings,
    from_domain,
    leading_id,
    listed,
    parse,
    shown,
)
from hub.intake.exchange_stamp import EXCHANGE, exchange_results, internal_doubt, stamp_of
from hub.intake.message import InboundMessage

GOOGLE = "mx.google.com"


@dataclass(frozen=True)
class Verdict:
    authenticated: bool
    reason: str  # one line, for the caseworker and the case history


def sender_verdict(message: InboundMessage, config: Config) -> Verdict:
    """Whether the office's mail system vouches for the sender of `message`: the From header names exactly
    that address (not a second one, not only Sender or Return-Path), and the system's own word says so."""
    if message.from_address != message.sender:
        return Verdict(False, "the From header does not name exactly this sender's address")
    if config.office.mail_system == "microsoft365":
        verdict = _microsoft365(message, config)
    elif config.office.mail_system == "google":
        verdict = _google(message)
    else:
        verdict = verify(message.authentication_results, config.office.authserv_id, message.from_address)
    return Verdict(verdict.authenticated, " ".join(verdict.reason.split()))


def verify(results: Sequence[str], authserv_id: str, from_address: str, composite_verdict: bool = False) -> Verdict:
    """Whether the Authentication-Results from `authserv_id` authenticate the domain of `from_address`; with
    `composite_verdict`, Microsoft's compauth must pass as well."""
    verdict = _verify(results, authserv_id, from_address, composite_verdict)
    return Verdict(verdict.authenticated, " ".join(verdict.reason.split()))  # one line, whatever went into it


def _microsoft365(message: InboundMessage, config: Config) -> Verdict:
    stamp = stamp_of(message)
    if stamp.claims_internal:
        doubt = internal_doubt(stamp, config.oauth2_tenant)
        if doubt:
            return Verdict(False, doubt)
        if config.staff_member(message.from_address) is None:
            # The stamp says the mail was sent inside the tenant, not that its From is an address of the
            # sender's own (a mailbox may send as others it is allowed to): staff addresses only.
            return Verdict(False, "internal mail of the tenant vouches for staff addresses only")
        by = f", authenticated by {stamp.auth_source[0]}" if stamp.auth_source else ""
        return Verdict(True, f"internal mail of Microsoft 365 tenant {config.oauth2_tenant}{by}")
    found = message.header_values("authentication-results")
    if not found:
        return Verdict(False, "no Authentication-Results from Exchange Online")
    results = exchange_results(found[0])
    if results is None:
        return Verdict(False, f"the topmost Authentication-Results, the receiving server's, is not in Exchange "
                              f"Online's form (it names {_named(found[0])})")
    return verify([results], EXCHANGE, message.from_address, composite_verdict=True)


def _google(message: InboundMessage) -> Verdict:
    found = message.header_values("authentication-results")
    if not found:
        return Verdict(False, f"no Authentication-Results from {GOOGLE}")
    if leading_id(found[0]) != GOOGLE:
        return Verdict(False, f"the topmost Authentication-Results, the receiving server's, is not from {GOOGLE} "
                              f"(it names {_named(found[0])})")
    verdict = verify(found[:1], GOOGLE, message.from_address)
    arc = _google_arc(message.header_values("arc-authentication-results"))
    if verdict.authenticated and arc is not None:
        sealed = verify([arc], GOOGLE, message.from_address)
        if not sealed.authenticated:
            return Verdict(False, f"Google's own ARC results do not agree: {sealed.reason}")
    return verdict


def _google_arc(values: list[str]) -> str | None:
    """The results of the ARC set Google added (RFC 8617: the topmost, with the highest instance), if any."""
    sets = [arc_instance(value) for value in values]
    if not sets or sets[0] is None:
        return None
    instance, results = sets[0]
    highest = max(found[0] for found in sets if found is not None)
    return results if instance == highest and leading_id(results) == GOOGLE else None


def _named(value: str) -> str:
    claimed = leading_id(value)
    return f"authserv-id {claimed}" if claimed else shown(value, 40)


def _verify(results: Sequence[str], authserv_id: str, from_address: str, composite_verdict: bool) -> Verdict:
    server = authserv_id.strip().lower()
    if not server:
        return Verdict(False, "no authserv-id configured, so no Authentication-Results can be trusted")
    domain = from_domain(from_address)
    if domain is None:
        return Verdict(False, f"no usable domain in From address {shown(from_address)}")
    if isinstance(results, str):
        results = (results,)
    found: list[Finding] = []
    composites: list[str] = []
    seen = False
    for value in results:
        try:
            header = parse(value)
        except Unusable as problem:
            claimed = leading_id(value)
            if claimed is not None and claimed != server:
                continue  # another server's header, unreadable or not: not ours to weigh
            return Verdict(False, f"unparseable Authentication-Results ({problem}): {shown(value)}")
        if header.authserv_id != server:
            continue
        seen = True
        try:
            found.extend(findings(header.results, domain))
        except Unusable as problem:
            return Verdict(False, f"ambiguous Authentication-Results from {server}: {problem}")
        composites.extend(composite(header.results))
    if not seen:
        return Verdict(False, f"no Authentication-Results from {server}")
    verdict = _decide(found, server, domain)
    if composite_verdict and verdict.authenticated and set(composites) - {"pass"}:
        # Microsoft's own judgement of the From domain; a pass of ours beside its failure is not trusted.
        # (Messages from before Exchange wrote compauth have none, and are judged by the rest.)
        outcome = "/".join(sorted(set(composites)))
        return Verdict(False, f"compauth={outcome} from Exchange Online, which overrules {verdict.reason}")
    return verdict


def _decide(found: list[Finding], server: str, domain: str) -> Verdict:
    dmarc_failed = [f for f in found if f.method == "dmarc" and f.aligned and f.result == "fail"]
    trusted: list[Finding] = []
    conflicts: list[str] = []
    for finding in found:
        if finding.result != "pass" or not finding.aligned:
            continue
        against = sorted({other.result for other in found if other.method == finding.method
                          and other.domain == finding.domain and other.result != "pass"})
        if against:
            conflicts.append(f"{finding.method}=pass and {finding.method}={'/'.join(against)} for {finding.domain}")
        else:
            trusted.append(finding)
    if conflicts:
        # Either result may be the true one; a pass next to a contradiction is not trusted.
        return Verdict(False, f"conflicting Authentication-Results from {server}: {listed(conflicts)}")
    best = min(trusted, key=lambda finding: METHODS.index(finding.method), default=None)
    if dmarc_failed:
        # The domain's own policy judged the message and rejected it, e.g. an adkim=s policy that a
        # parent-domain signature does not satisfy; relaxed alignment must not overrule that.
        overruled = f", which overrules {best.method}=pass for {best.domain}" if best else ""
        return Verdict(False, f"dmarc=fail for {domain}{overruled}")
    if best is not None:
        aligned = "" if best.domain == domain else f", aligned with {domain}"
        return Verdict(True, f"{best.method}=pass for {best.domain}{aligned}")
    if not found:
        return Verdict(False, f"Authentication-Results from {server} have no dkim, spf or dmarc result")
    return Verdict(False, listed([finding.describe(domain) for finding in found]))
