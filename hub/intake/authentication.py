"""Authentication: did the office's own mail server vouch for this message's From domain?

Staff commands change cases and agency answers move them on, so a message only counts as a staff
member's or an agency's when the receiving server's
RFC 8601 Authentication-Results say so: `dmarc=pass` for the From domain, or an aligned `dkim=pass` or
`spf=pass` (DMARC relaxed alignment, RFC 7489 §3.1: the From domain is the result's domain or a subdomain
of it). Only results from the configured authserv-id count. Doubt means no: an unreadable header that
could be ours, results that contradict each other, or a `dmarc=fail` for the From domain.

The caller passes only the header values above the first Received line, which the office's server wrote;
a header a sender wrote into the message never reaches this module.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from email.utils import getaddresses

import authres
import authres.core

from hub.intake.message import InboundMessage

METHODS = ("dmarc", "dkim", "spf")  # also the order in which a passing result is named in the reason
# Real headers stay under a few KiB; authres re-slices the text per token, so an enormous value is only cost.
MAX_HEADER_LENGTH = 16_384
MAX_LISTED = 4
# A hostname in A-labels with at least two labels: a bare label (`gov`, `localhost`, `none`) aligns with nothing.
HOSTNAME = re.compile(r"(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
# What an unparseable value would name as its authserv-id: its first word, if that could be a hostname.
LEADING_ID = re.compile(r"\s*([^\s;()]+)(?:[\s;(]|$)")
FOLD = re.compile(r"\r?\n(?=[ \t])")


@dataclass(frozen=True)
class Verdict:
    authenticated: bool
    reason: str  # one line, for the caseworker and the case history


@dataclass(frozen=True)
class _Finding:
    method: str     # "dmarc" | "dkim" | "spf"
    result: str     # "pass", "fail", "softfail", ... as the server wrote it, lower-cased
    domain: str     # the domain the result speaks for ("" when the header names none usable)
    aligned: bool   # whether that domain covers the From domain
    about: str      # "for doe.example.gov", "without header.d", "with unusable header.d=none"

    def describe(self, from_domain: str) -> str:
        if self.result == "pass" and not self.aligned and self.domain:
            return f"{self.method}=pass {self.about}, not {from_domain}"
        return f"{self.method}={self.result} {self.about}"


class _Unusable(Exception):
    """A header value that cannot be relied on; the message is the reason's tail."""


class _StrictHeader(authres.core.AuthenticationResultsHeader):
    # authres skips a property it cannot parse unless strict, and a missing ";" then hides a whole
    # result: `dkim=pass header.d=a dkim=fail header.d=a` would read as a single pass.
    def __init__(self, feature_context: object, *args: object, **kwargs: object) -> None:
        kwargs["strict"] = True
        super().__init__(feature_context, *args, **kwargs)


def sender_verdict(message: InboundMessage, authserv_id: str) -> Verdict:
    """Whether the office's server vouches for the sender of `message`: the From header names exactly that
    address (not a second one, not only Sender or Return-Path), and its domain passes."""
    if message.from_address != message.sender:
        return Verdict(False, "the From header does not name exactly this sender's address")
    return verify(message.authentication_results, authserv_id, message.from_address)


def verify(results: Sequence[str], authserv_id: str, from_address: str) -> Verdict:
    """Whether the Authentication-Results from `authserv_id` authenticate the domain of `from_address`."""
    verdict = _verify(results, authserv_id, from_address)
    return Verdict(verdict.authenticated, " ".join(verdict.reason.split()))  # one line, whatever went into it


def _verify(results: Sequence[str], authserv_id: str, from_address: str) -> Verdict:
    server = authserv_id.strip().lower()
    if not server:
        return Verdict(False, "no authserv-id configured, so no Authentication-Results can be trusted")
    from_domain = _from_domain(from_address)
    if from_domain is None:
        return Verdict(False, f"no usable domain in From address {_shown(from_address)}")
    if isinstance(results, str):
        results = (results,)
    findings: list[_Finding] = []
    seen = False
    for value in results:
        try:
            header = _parse(value)
        except _Unusable as problem:
            claimed = _leading_id(value)
            if claimed is not None and claimed != server:
                continue  # another server's header, unreadable or not: not ours to weigh
            return Verdict(False, f"unparseable Authentication-Results ({problem}): {_shown(value)}")
        if header.authserv_id != server:
            continue
        seen = True
        try:
            findings.extend(_findings(header.results, from_domain))
        except _Unusable as problem:
            return Verdict(False, f"ambiguous Authentication-Results from {server}: {problem}")
    if not seen:
        return Verdict(False, f"no Authentication-Results from {server}")
    return _decide(findings, server, from_domain)


def _decide(findings: list[_Finding], server: str, from_domain: str) -> Verdict:
    dmarc_failed = [f for f in findings if f.method == "dmarc" and f.aligned and f.result == "fail"]
    trusted: list[_Finding] = []
    conflicts: list[str] = []
    for finding in findings:
        if finding.result != "pass" or not finding.aligned:
            continue
        against = sorted({other.result for other in findings if other.method == finding.method
                          and other.domain == finding.domain and other.result != "pass"})
        if against:
            conflicts.append(f"{finding.method}=pass and {finding.method}={'/'.join(against)} for {finding.domain}")
        else:
            trusted.append(finding)
    if conflicts:
        # Either result may be the true one; a pass next to a contradiction is not trusted.
        return Verdict(False, f"conflicting Authentication-Results from {server}: {_listed(conflicts)}")
    best = min(trusted, key=lambda finding: METHODS.index(finding.method), default=None)
    if dmarc_failed:
        # The domain's own policy judged the message and rejected it, e.g. an adkim=s policy that a
        # parent-domain signature does not satisfy; relaxed alignment must not overrule that.
        overruled = f", which overrules {best.method}=pass for {best.domain}" if best else ""
        return Verdict(False, f"dmarc=fail for {from_domain}{overruled}")
    if best is not None:
        aligned = "" if best.domain == from_domain else f", aligned with {from_domain}"
        return Verdict(True, f"{best.method}=pass for {best.domain}{aligned}")
    if not findings:
        return Verdict(False, f"Authentication-Results from {server} have no dkim, spf or dmarc result")
    return Verdict(False, _listed([finding.describe(from_domain) for finding in findings]))


def _parse(value: str) -> authres.core.AuthenticationResultsHeader:
    if not isinstance(value, str):
        raise _Unusable("not text")
    if len(value) > MAX_HEADER_LENGTH:
        raise _Unusable(f"longer than {MAX_HEADER_LENGTH} characters")
    text = FOLD.sub("", value)
    if "\r" in text or "\n" in text:
        raise _Unusable("a line break that is not folding")
    try:
        return _StrictHeader.parse_value(authres.core_features(), text)
    except Exception as problem:  # besides its own errors, authres recurses into deeply nested comments
        message = getattr(problem, "message", None) or str(problem) or type(problem).__name__
        raise _Unusable(_first_line(str(message))) from None


def _findings(results: Iterable[authres.core.BaseAuthenticationResult], from_domain: str) -> list[_Finding]:
    found: list[_Finding] = []
    for result in results:
        method = str(getattr(result, "method", "")).lower()
        if method not in METHODS:
            continue
        values = _properties(result)
        outcome = str(result.result).lower()
        if method == "dmarc":
            raw = _single(values, "header.from", method)
            domain = _domain_of(raw)
            found.append(_Finding(method, outcome, domain or "", domain == from_domain,
                                  _about("header.from", raw, domain)))
        elif method == "spf":
            raw = _single(values, "smtp.mailfrom", method)
            domain = _domain_of(raw)
            found.append(_Finding(method, outcome, domain or "", _aligned(from_domain, domain),
                                  _about("smtp.mailfrom", raw, domain)))
        else:
            raw = _single(values, "header.d", method)
            identity = _single(values, "header.i", method)
            signer = _hostname(raw)
            agent = _domain_of(identity) if identity is not None and "@" in identity else None
            # RFC 6376 §3.5: the i= domain lies within d=; one that does not is no identity at all.
            if raw is not None and not _aligned(agent, signer):
                agent = None
            aligned = _aligned(from_domain, signer) or _aligned(agent, from_domain)
            about = _about("header.i", identity, agent) if raw is None and identity is not None else \
                _about("header.d", raw, signer)
            found.append(_Finding(method, outcome, signer or agent or "", aligned, about))
    return found


def _about(key: str, raw: str | None, domain: str | None) -> str:
    """What a result speaks for, as the reason says it."""
    if domain:
        return f"for {domain}"
    if raw is None:
        return f"without {key}"
    if not raw.strip():
        return f"with empty {key}"
    text = " ".join(raw.split())
    return f"with unusable {key}=" + "".join(char if char.isprintable() else "?" for char in text)[:80]


def _properties(result: authres.core.BaseAuthenticationResult) -> dict[str, set[str]]:
    values: dict[str, set[str]] = {}
    for prop in getattr(result, "properties", []):
        key = f"{prop.type}.{prop.name}".lower()
        values.setdefault(key, set()).add(str(prop.value or ""))
    return values


def _single(values: dict[str, set[str]], key: str, method: str) -> str | None:
    found = values.get(key, set())
    # Case differences are one value (domains are case-insensitive); two different ones leave no answer.
    different = {value.lower() for value in found}
    if len(different) > 1:
        raise _Unusable(f"{method} result with {len(different)} different {key} values")
    return next(iter(found), None)


def _aligned(domain: str | None, parent: str | None) -> bool:
    """RFC 7489 relaxed alignment without the Public Suffix List: `domain` is `parent` or below it."""
    if domain is None or parent is None:
        return False
    return domain == parent or domain.endswith("." + parent)


def _from_domain(from_address: str) -> str | None:
    addresses = [address for _, address in getaddresses([from_address or ""]) if address]
    if len(addresses) != 1 or "@" not in addresses[0]:
        return None
    return _hostname(addresses[0].rpartition("@")[2])


def _domain_of(value: str | None) -> str | None:
    """The domain of `user@domain`, `@domain` or a bare `domain`."""
    if value is None:
        return None
    return _hostname(value.rpartition("@")[2])


def _hostname(value: str | None) -> str | None:
    if value is None:
        return None
    name = value.strip().rstrip(".").lower()
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    return name if HOSTNAME.fullmatch(name) else None


def _leading_id(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    match = LEADING_ID.match(value)
    return _hostname(match.group(1)) if match else None


def _listed(items: list[str]) -> str:
    unique = list(dict.fromkeys(items))
    more = len(unique) - MAX_LISTED
    return "; ".join(unique[:MAX_LISTED]) + (f"; and {more} more" if more > 0 else "")


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0].strip() if text.strip() else ""


def _shown(value: object, limit: int = 80) -> str:
    """A header value as one printable line, shortened: it goes into the reason."""
    text = " ".join(str(value).split())
    text = "".join(char if char.isprintable() else "?" for char in text)
    return repr(text if len(text) <= limit else text[:limit] + "…")
