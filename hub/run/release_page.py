"""The page where a constituent signs their privacy release by the personal link of the privacy-release-request
letter (hub.letters.release_link): GET shows the release for the case's agency with their details filled in;
POST checks the answers and records the signature (hub.cases.release_signing).

What the agency needs (date of birth, SSN digits, claim or A-number) is never logged, never written back into
the page (an error asks for it again) and shown after signing only masked. A link that is forged, expired,
used or revoked gets a page that says so; so does anything that goes wrong while recording (nothing is signed
then). English and Spanish: ?lang=, else the browser's first language. No framework: one small script, which
only adds the drawn signature (typing the name signs as well).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from hub.cases.release_signing import AlreadyUsed, link_case, sign_release
from hub.core.agency_directory import Agency
from hub.core.app import Hub
from hub.core.models import ReleaseLink
from hub.letters.release_form import ASKS, MAX_NAME, WORDS, check_answer, consent, language, masked
from hub.letters.release_link import PATH, Refused, open_link
from hub.letters.release_pdf import Audit, SignedForm

log = logging.getLogger(__name__)
MAX_BODY = 1 << 20  # a drawn signature's PNG is some tens of KB
MAX_DRAWN = 512 << 10
PNG = b"\x89PNG\r\n\x1a\n"
DRAWN_PREFIX = "data:image/png;base64,"
ASSETS = {"release.css": "text/css", "release.js": "text/javascript"}
HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff",
           "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                                      "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"}
STATUS = {"forged": 404, "expired": 410, "revoked": 410, "used": 200}

_PAGES = Environment(loader=PackageLoader("hub.run", "pages"), autoescape=select_autoescape(["j2"]),
                     trim_blocks=True, lstrip_blocks=True)


@dataclass(frozen=True)
class View:
    """What the form shows, read in one transaction."""

    link_id: int
    token_id: str
    case_ref: str
    agency: Agency | None
    person: dict[str, str]


def release_routes(hub: Hub) -> list[BaseRoute]:
    """The page's routes, for hub.run.web (only when [web] public_url makes links)."""

    async def asset(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in ASSETS:
            return Response("not found\n", 404, media_type="text/plain")
        text = _PAGES.loader.get_source(_PAGES, name)[0]  # type: ignore[union-attr]
        return Response(text, media_type=ASSETS[name], headers={"Cache-Control": "max-age=3600",
                                                               "X-Content-Type-Options": "nosniff"})

    async def page(request: Request) -> Response:
        token = request.path_params["token"]
        if request.method == "GET":
            lang = language(request.query_params.get("lang"), request.headers.get("accept-language", ""))
            found = await _opened(hub, token)
            if found is None:
                return _trouble(hub, lang)
            if isinstance(found, Refused):
                return _refused(hub, found.reason, lang, request.url.path)
            return _form(hub, found, lang, request.url.path, {}, {}, "")
        fields = await _read_form(request)
        lang = language((fields or {}).get("lang"), request.headers.get("accept-language", ""))
        if fields is None:
            return _refused(hub, "forged", lang, "", 400)
        found = await _opened(hub, token)
        if found is None:
            return _trouble(hub, lang)
        if isinstance(found, Refused):
            return _refused(hub, found.reason, lang, request.url.path)
        return await _sign(hub, request, found, fields, lang)

    return [Route(f"{PATH}assets/{{name}}", asset, methods=["GET"]),
            Route(f"{PATH}{{token}}", page, methods=["GET", "POST"])]


async def _opened(hub: Hub, token: str) -> View | Refused | None:
    """The link's view; None when the database could not say (logged without the token)."""
    try:
        return await run_in_threadpool(_view, hub, token)
    except Exception:
        log.exception("a link to sign a release could not be opened")
        return None


def _trouble(hub: Hub, lang: str) -> Response:
    words = WORDS[lang]
    return _page(hub, "refused.html.j2", lang, "", 503, heading=words["error_title"], text=words["error_text"])


def _view(hub: Hub, token: str) -> View | Refused:
    with hub.sessions.begin() as session:
        found = open_link(session, hub.config, token, hub.clock.now())
        if isinstance(found, Refused):
            return found
        case = link_case(session, found)
        person = case.constituent
        return View(found.id, found.token_id, case.ref, hub.config.agency(found.agency or case.agency),
                    {"name": person.name if person else "", "address": (person.postal_address if person else "") or "",
                     "email": (person.email if person else "") or "", "phone": (person.phone if person else "") or ""})


async def _read_form(request: Request) -> dict[str, str] | None:
    """The urlencoded form's fields (the first of each name); None when it is not one, or too large."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            return None
    try:
        parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        return None
    return {key: values[0] for key, values in parsed.items()}


async def _sign(hub: Hub, request: Request, view: View, fields: dict[str, str], lang: str) -> Response:
    words = WORDS[lang]
    today = hub.clock.now().astimezone(ZoneInfo(hub.config.office.timezone)).date()
    asks = _asks(view.agency)
    errors: dict[str, str] = {}
    answers = []
    for key in asks:
        value, problem = check_answer(key, fields.get(key, ""), today, lang)
        if problem:
            errors[key] = problem
        answers.append((key, value))
    full_name = " ".join(fields.get("full_name", "").split())
    typed = " ".join(fields.get("typed_signature", "").split())
    if not full_name:
        errors["full_name"] = words["required"].format(field=words["full_name"])
    elif len(full_name) > MAX_NAME:
        errors["full_name"] = words["too_long"].format(field=words["full_name"], limit=MAX_NAME)
    drawn, drawn_problem = _drawn(fields.get("drawn", ""))
    if drawn_problem:
        errors["signature"] = words["bad_drawing"]
    elif drawn is None and not typed:
        errors["signature"] = words["no_signature"]
    elif len(typed) > MAX_NAME:
        errors["signature"] = words["too_long"].format(field=words["typed_signature"], limit=MAX_NAME)
    if fields.get("consent") != "yes":
        errors["consent"] = words["no_consent"]
    kept = {"full_name": full_name, "typed_signature": typed, "consent": fields.get("consent") == "yes"}
    if errors:
        again = ", ".join(ASKS[key].label[lang].lower() for key in asks if fields.get(key, "").strip())
        return _form(hub, view, lang, request.url.path, errors, kept,
                     words["sensitive_again"].format(fields=again) if again else "", 422)
    config = hub.config
    agency_name = view.agency.name if view.agency else WORDS["en"]["the_agency"]
    form = SignedForm(office=config.office.name, member=config.office.member, agency=agency_name,
                      case_ref=view.case_ref, name_on_file=view.person["name"], address=view.person["address"],
                      email=view.person["email"], phone=view.person["phone"], full_name=full_name,
                      answers=tuple(answers), language=lang, typed_signature=typed if drawn is None else "",
                      drawn_sha256=hashlib.sha256(drawn).hexdigest() if drawn is not None else "")
    now = hub.clock.now()
    audit = Audit(signed_at=now, timezone=config.office.timezone,
                  ip_address=request.client.host if request.client else "",
                  user_agent=request.headers.get("user-agent", ""), token_id=view.token_id)

    def record() -> str:
        with hub.sessions.begin() as session:
            link = session.get_one(ReleaseLink, view.link_id)
            return sign_release(session, config, hub.refs, link, form, audit, drawn, now,
                                view.agency.key if view.agency else None).case_ref
    try:
        await run_in_threadpool(record)
    except AlreadyUsed:
        return _refused(hub, "used", lang, request.url.path)
    except Exception:
        log.exception("case %s: the release signed by link %s was not recorded", view.case_ref, view.token_id)
        return _trouble(hub, lang)
    shown = [(ASKS[key].label[lang], masked(key, value)) for key, value in answers]
    return _page(hub, "done.html.j2", lang, "", 200, case_ref=view.case_ref, agency_name=agency_name,
                 full_name=full_name, shown=shown)


def _asks(agency: Agency | None) -> tuple[str, ...]:
    return agency.release_asks if agency is not None else ("birth_date",)


def _drawn(value: str) -> tuple[bytes | None, bool]:
    """(the drawn signature's PNG or None, whether what came was not one)."""
    if not value:
        return None, False
    if not value.startswith(DRAWN_PREFIX) or len(value) > MAX_DRAWN * 4 // 3 + len(DRAWN_PREFIX) + 4:
        return None, True
    try:
        data = base64.b64decode(value[len(DRAWN_PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        return None, True
    if not data.startswith(PNG):
        return None, True
    try:
        from PIL import Image  # fpdf2's own dependency; the image is checked before the PDF embeds it
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
    except Exception:  # Pillow raises many kinds for a damaged image
        return None, True
    return data, False


def _form(hub: Hub, view: View, lang: str, path: str, errors: dict[str, str], kept: dict[str, Any],
          sensitive_again: str, status: int = 200) -> Response:
    config = hub.config
    agency_name = view.agency.name if view.agency else WORDS[lang]["the_agency"]
    today = hub.clock.now().astimezone(ZoneInfo(config.office.timezone)).date()
    return _page(hub, "form.html.j2", lang, path, status, errors=errors, kept=kept or {},
                 sensitive_again=sensitive_again, case_ref=view.case_ref, agency_name=agency_name,
                 person=view.person, asks=[ASKS[key] for key in _asks(view.agency)], action=path,
                 today=today.isoformat(),
                 statement=consent(lang, agency_name, config.office.member, config.office.name))


def _refused(hub: Hub, reason: str, lang: str, path: str, status: int | None = None) -> Response:
    words = WORDS[lang]
    return _page(hub, "refused.html.j2", lang, path, status or STATUS[reason], heading=words["refused_title"]
                 if reason != "used" else words["done_title"], text=words[reason])


def _page(hub: Hub, name: str, lang: str, path: str, status: int, **values: Any) -> Response:
    other = WORDS[lang]["language_code"]
    html = _PAGES.get_template(name).render(lang=lang, w=WORDS[lang], office=hub.config.office,
                                            switch_url=f"{path}?lang={other}" if path else "", **values)
    return HTMLResponse(html, status, headers=HEADERS)
