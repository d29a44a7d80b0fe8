"""RFC 8601 Authentication-Results read into findings: which method passed or failed, for which domain.

hub.intake.authentication weighs the findings; this module only reads a header value, strictly: a missing
";" that would let one result hide another, two different domains named by one result, or an authserv-id
that is no hostname leave no finding but an `Unusable` with the reason. Also the instance of an ARC set's
ARC-Authentication-Results (RFC 8617 §4.1.1), whose value is otherwise an Authentication-Results value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from email.utils import getaddresses

import authres
import authres.core

METHODS = ("dmarc", "dkim", "spf")  # also the order in which a passing result is named in the reason
# Microsoft 365's composite verdict over SPF, DKIM, DMARC and its own signals; not an RFC 8601 method.
COMPOSITE = "compauth"
# Real headers stay under a few KiB; authres re-slices the text per token, so an enormous value is only cost.
MAX_HEADER_LENGTH = 16_384
MAX_LISTED = 4
# A hostname in A-labels with at least two labels: a bare label (`gov`, `localhost`, `none`) aligns with nothing.
HOSTNAME = re.compile(r"(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
# What an unparseable value would name as its authserv-id: its first word, if that could be a hostname.
LEADING_ID = re.compile(r"\s*([^\s;()]+)(?:[\s;(]|$)")
FOLD = re.compile(r"\r?\n(?=[ \t])")
ARC_INSTANCE = re.compile(r"\s*i\s*=\s*([0-9]{1,2})\s*;")


@dataclass(frozen=True)
class Finding:
    method: str     # "dmarc" | "dkim" | "spf"
    result: str     # "pass", "fail", "softfail", ... as the server wrote it, lower-cased
    domain: str     # the domain the result speaks for ("" when the header names none usable)
    aligned: bool   # whether that domain covers the From domain
    about: str      # "for doe.example.gov", "without header.d", "with unusable header.d=none"

    def describe(self, from_domain: str) -> str:
        if self.result == "pass" and not self.aligned and self.domain:
            return f"{self.method}=pass {self.about}, not {from_domain}"
        return f"{self.method}={self.result} {self.about}"


class Unusable(Exception):
    """A header value that cannot be relied on; the message is the reason's tail."""


class _StrictHeader(authres.core.AuthenticationResultsHeader):
    # authres skips a property it cannot parse unless strict, and a missing ";" then hides a whole
    # result: `dkim=pass header.d=a dkim=fail header.d=a` would read as a single pass.
    def __init__(self, feature_context: object, *args: object, **kwargs: object) -> None:
        kwargs["strict"] = True
        super().__init__(feature_context, *args, **kwargs)


def parse(value: object) -> authres.core.AuthenticationResultsHeader:
    if not isinstance(value, str):
        raise Unusable("not text")
    if len(value) > MAX_HEADER_LENGTH:
        raise Unusable(f"longer than {MAX_HEADER_LENGTH} characters")
    text = unfolded(value)
    if "\r" in text or "\n" in text:
        raise Unusable("a line break that is not folding")
    try:
        return _StrictHeader.parse_value(authres.core_features(), text)
    except Exception as problem:  # besides its own errors, authres recurses into deeply nested comments
        message = getattr(problem, "message", None) or str(problem) or type(problem).__name__
        raise Unusable(_first_line(str(message))) from None


def unfolded(value: str) -> str:
    return FOLD.sub("", value)


def arc_instance(value: str) -> tuple[int, str] | None:
    """An ARC-Authentication-Results value as (its instance, the Authentication-Results value after it)."""
    match = ARC_INSTANCE.match(unfolded(value))
    return (int(match.group(1)), unfolded(value)[match.end():]) if match else None


def findings(results: Iterable[authres.core.BaseAuthenticationResult], from_domain: str) -> list[Finding]:
    found: list[Finding] = []
    for result in results:
        method = str(getattr(result, "method", "")).lower()
        if method not in METHODS:
            continue
        values = _properties(result)
        outcome = str(result.result).lower()
        if method == "dmarc":
            raw = _single(values, "header.from", method)
            domain = domain_of(raw)
            found.append(Finding(method, outcome, domain or "", domain == from_domain,
                                 _about("header.from", raw, domain)))
        elif method == "spf":
            raw = _single(values, "smtp.mailfrom", method)
            domain = domain_of(raw)
            found.append(Finding(method, outcome, domain or "", aligned(from_domain, domain),
                                 _about("smtp.mailfrom", raw, domain)))
        else:
            raw = _single(values, "header.d", method)
            identity = _single(values, "header.i", method)
            signer = hostname(raw)
            agent = domain_of(identity) if identity is not None and "@" in identity else None
            # RFC 6376 §3.5: the i= domain lies within d=; one that does not is no identity at all.
            if raw is not None and not aligned(agent, signer):
                agent = None
            covers = aligned(from_domain, signer) or aligned(agent, from_domain)
            about = _about("header.i", identity, agent) if raw is None and identity is not None else \
                _about("header.d", raw, signer)
            found.append(Finding(method, outcome, signer or agent or "", covers, about))
    return found


def composite(results: Iterable[authres.core.BaseAuthenticationResult]) -> list[str]:
    """The outcomes of the compauth results, lower-cased."""
    return [str(result.result).lower() for result in results
            if str(getattr(result, "method", "")).lower() == COMPOSITE]


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
        raise Unusable(f"{method} result with {len(different)} different {key} values")
    return next(iter(found), None)


def aligned(domain: str | None, parent: str | None) -> bool:
    """RFC 7489 relaxed alignment without the Public Suffix List: `domain` is `parent` or below it."""
    if domain is None or parent is None:
        return False
    return domain == parent or domain.endswith("." + parent)


def from_domain(from_address: str) -> str | None:
    addresses = [address for _, address in getaddresses([from_address or ""]) if address]
    if len(addresses) != 1 or "@" not in addresses[0]:
        return None
    return hostname(addresses[0].rpartition("@")[2])


def domain_of(value: str | None) -> str | None:
    """The domain of `user@domain`, `@domain` or a bare `domain`."""
    if value is None:
        return None
    return hostname(value.rpartition("@")[2])


def hostname(value: str | None) -> str | None:
    if value is None:
        return None
    name = value.strip().rstrip(".").lower()
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    return name if HOSTNAME.fullmatch(name) else None


def leading_id(value: object) -> str | None:
    """The hostname a header value starts with, where an authserv-id stands; None when it starts otherwise."""
    if not isinstance(value, str):
        return None
    match = LEADING_ID.match(unfolded(value))
    return hostname(match.group(1)) if match else None


def listed(items: list[str]) -> str:
    unique = list(dict.fromkeys(items))
    more = len(unique) - MAX_LISTED
    return "; ".join(unique[:MAX_LISTED]) + (f"; and {more} more" if more > 0 else "")


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0].strip() if text.strip() else ""


def shown(value: object, limit: int = 80) -> str:
    """A header value as one printable line, shortened: it goes into the reason."""
    text = " ".join(str(value).split())
    text = "".join(char if char.isprintable() else "?" for char in text)
    return repr(text if len(text) <= limit else text[:limit] + "…")
