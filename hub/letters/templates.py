"""The office's prewritten letters: find a template, render it for one case, split subject from body.

Offices edit these files, so they run in a Jinja2 sandbox; a file in the office's letters folder
replaces the packaged letter of the same name. A misspelt variable is an error naming the file and
the `group.field`, never a letter sent with a hole in it (STYLE: no "template missing → send nothing").
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from jinja2 import (
    ChoiceLoader,
    FileSystemLoader,
    FunctionLoader,
    StrictUndefined,
    Template,
    TemplateError,
    TemplateNotFound,
    TemplateSyntaxError,
    meta,
    select_autoescape,
)
from jinja2.loaders import BaseLoader
from jinja2.sandbox import SandboxedEnvironment, SecurityError
from jinja2.utils import missing, object_type_repr

from hub.core.agency_directory import Agency
from hub.core.config import Config
from hub.core.errors import UserError
from hub.core.refs import References
from hub.letters.branches import branch_fields, flipped_contexts
from hub.letters.sms_text import segments

# The context every letter is rendered with: group -> its fields (None: a plain string).
CONTEXT_KEYS: dict[str, tuple[str, ...] | None] = {
    "office": ("name", "member", "district", "address", "phone", "hours", "website"),
    "case": ("ref", "subject", "status", "opened_on", "agency_control", "summary", "identifiers"),
    "constituent": ("name", "first_name", "email", "phone", "address", "zip"),
    "recipient": ("name", "first_name", "role"),  # whom the letter greets: the constituent, or a person on the case
    "caseworker": ("name", "first_name", "title", "email"),
    "agency": ("key", "name", "liaison", "response_days", "business_days"),
    "release": ("on_file", "signed_on", "attached"),
    "inquiry": ("sent_on", "response_due", "followup_number"),
    "message": ("sender", "sender_name", "kind", "channel", "subject", "body", "at", "files"),
    # release_sign_url: the constituent's own link to sign the release on the hub's page, until release_sign_until
    # (only in the privacy-release-request letter, when [web] public_url is set)
    "links": ("privacy_release_url", "privacy_release_attached", "survey_url", "release_sign_url",
              "release_sign_until"),
    "notice": None,
    "text": None,
    "first_notice": None,  # a caseworker notice that is its case's first (hub.letters.notice_thread)
    "today": None,
    "status": None,  # the answer to STATUS: one item a case (hub.cases.case_status); empty in other letters
    "language": None,  # "en", or "es" for a letter asked for in Spanish (ESTADO)
}
CHANNELS = ("email", "sms")
# The letters to an agency's liaison: the inquiry and its follow-ups.
AGENCY_LETTERS = ("agency-inquiry", "agency-followup")
# The digest of the notices a flood from one sender would have caused (hub.letters.notice_digest).
NOTICE_DIGEST = "notice-digest"
# A message held in triage, told to the intake address; and the weekday list of what still waits there
# (hub.letters.triage_letters).
TRIAGE_NOTICE = "triage-notice"
TRIAGE_DIGEST = "triage-digest"
# The answer to a constituent's STATUS (hub.intake.status_answer): filled in from what they asked, never sent by hand.
CASE_STATUS = "case-status"
# A caseworker's own text relayed to the constituent or the agency (no template: hub.letters.signature signs it).
RELAY = "relay"
# The hub's own mail to the office's people (not signed by a caseworker, not part of the case's correspondence).
TO_STAFF = ("caseworker-notification", "command-reply", "case-list", "caseworker-digest", "followup-invitation",
            "followup-reminder", NOTICE_DIGEST, TRIAGE_NOTICE, TRIAGE_DIGEST)
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")  # also keeps `../` out of a name typed on the command line
SUBJECT = "Subject:"


class LetterError(UserError):
    """A letter that cannot be rendered; one line naming the template file and the problem."""


@dataclass(frozen=True)
class Letter:
    name: str
    channel: str
    subject: str  # "" for channels without one (SMS)
    body: str     # without a trailing newline; the hub adds the reference footer


class _Group(Mapping[str, Any]):
    """One read-only context group that knows its dotted name, so a misspelling reads `agency.liaisn`.

    Its own state is in underscore attributes, which the sandbox never lets a template reach; every
    other name a template asks for is looked up among the fields.
    """

    def __init__(self, path: str, data: Mapping[str, Any]) -> None:
        self._path = path
        self._data = data
        self._wrapped: dict[str, Any] = {}  # a letter reads a few of the fields: each is wrapped when first read

    def __getitem__(self, key: str) -> Any:
        if key not in self._wrapped:
            self._wrapped[key] = _wrap(f"{self._path}.{key}", self._data[key])
        return self._wrapped[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"<{self._path}>"


class _Items(tuple[Any, ...]):
    """A read-only list in the context that knows its dotted name (`case.identifiers has no item 3`)."""

    _path = ""


_PLAIN = frozenset({str, int, bool, float, type(None)})


def _wrap(path: str, value: Any) -> Any:
    if type(value) in _PLAIN:  # most fields: nothing to wrap, and no isinstance checks to pay for
        return value
    if isinstance(value, Mapping):
        return _Group(path, value)
    if isinstance(value, list | tuple):
        items = _Items(_wrap(f"{path}[{index}]", item) for index, item in enumerate(value))
        items._path = path
        return items
    return value


class _Undefined(StrictUndefined):
    """StrictUndefined whose message names the full dotted path of what was missing."""

    __slots__ = ()

    @property
    def _undefined_message(self) -> str:
        if self._undefined_hint:
            return self._undefined_hint
        owner = self._undefined_obj
        if owner is missing:
            return f"undefined variable {self._undefined_name}"
        if isinstance(owner, _Group):
            return f"undefined variable {owner._path}.{self._undefined_name}"
        if isinstance(owner, _Items):
            return f"{owner._path} has no item {self._undefined_name!r}"
        return f"{object_type_repr(owner)} has no attribute {self._undefined_name!r}"


class Letters:
    """The letters of one office: its own folder first, then the packaged ones.

    One made for a delivery pass (or a command) lists the folders and compiles each template once, the first
    time it is asked for: an office's edit counts from the next pass. One kept for a process's life (the
    webhook's intake) is made with `watch=True` and reads the folder again for each letter, as fast as an
    edit is saved.
    """

    def __init__(self, office_folder: Path | None, *, watch: bool = False) -> None:
        self._office = office_folder
        self._watch = watch
        self._names: dict[str, list[str]] = {}  # channel -> its letters (not kept when watching)
        self._compiled: dict[tuple[str, str], tuple[Template, str]] = {}  # (name, channel) -> template, label
        self._packaged: Traversable = resources.files("hub.packaged") / "letters"
        loaders: list[BaseLoader] = [FileSystemLoader(office_folder)] if office_folder else []
        loaders.append(FunctionLoader(self._packaged_source))
        self._loader = ChoiceLoader(loaders)
        self._env = SandboxedEnvironment(
            loader=self._loader, undefined=_Undefined,
            autoescape=select_autoescape(enabled_extensions=("html.j2",), disabled_extensions=(),
                                         default_for_string=False, default=False),
            trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False)

    def names(self, channel: str = "email") -> list[str]:
        """Every letter known for the channel, packaged or the office's own, sorted."""
        if self._watch:
            return self._listed(channel)
        if channel not in self._names:
            self._names[channel] = self._listed(channel)
        return list(self._names[channel])

    def _listed(self, channel: str) -> list[str]:
        suffix = f".{channel}.j2"
        files = [entry.name for entry in self._packaged.iterdir()]
        if self._office and self._office.is_dir():
            files += [path.name for path in self._office.iterdir() if path.is_file()]
        return sorted({file[:-len(suffix)] for file in files if file.endswith(suffix)
                       and NAME.match(file[:-len(suffix)])})

    def listing(self) -> list[dict[str, Any]]:
        """Every letter with the channels it has and those of them the office's own folder replaces."""
        channels = {channel: set(self.names(channel)) for channel in CHANNELS}
        return [{"name": name, "channels": [c for c in CHANNELS if name in channels[c]],
                 "office": [c for c in CHANNELS if name in channels[c] and self._office is not None
                            and (self._office / _file(name, c)).is_file()]}
                for name in sorted(set().union(*channels.values()))]

    def source(self, name: str, channel: str = "email") -> str:
        """The template text the office would get (its own copy when it has one)."""
        self._known(name, channel)
        text, _, _ = self._loader.get_source(self._env, _file(name, channel))
        return text

    def render(self, name: str, context: Mapping[str, Any], channel: str = "email") -> Letter:
        """The letter for one case; every problem in the template is a LetterError."""
        if not _complete(context):  # a bug in the caller's context builder, not in the office's letter
            missing_keys = [key for key in _keys(CONTEXT_KEYS) if not _has(context, key)]
            raise ValueError(f"letter context lacks {', '.join(missing_keys)}")
        template, label = self._template(name, channel)
        values = {key: _wrap(key, value) for key, value in context.items()}
        try:
            text = template.render(values)
        except (TemplateError, TypeError, ValueError, ArithmeticError, LookupError) as error:  # e.g. {{ 1 / 0 }}
            raise LetterError(f"letter {label}{_line(error, template)}: {_problem(error)}") from None
        if channel != "email":
            return Letter(name, channel, "", _body(text, label))
        subject, body = _split(text, label)
        return Letter(name, channel, subject, body)

    def check_all(self, context: Mapping[str, Any], sms_max_segments: int = 3) -> list[str]:
        """Render every known letter in every state its template branches on (hub.letters.branches); one
        line per letter that fails or is too long a text, empty when all are good."""
        problems = []
        for channel in CHANNELS:
            for name in self.names(channel):
                for state in [context, *self._branch_states(name, channel, context)]:
                    try:
                        letter = self.render(name, state, channel)
                    except LetterError as error:
                        problems.append(str(error))
                        break
                    too_long = _too_long(self._label(name, channel), letter.body, sms_max_segments) \
                        if channel == "sms" else []
                    if too_long:
                        problems += too_long
                        break
        return problems

    def reads(self, name: str, variable: str, channel: str = "email") -> bool:
        """Whether the letter's template reads `variable` (an office's own copy may leave out `text`)."""
        try:
            return variable in meta.find_undeclared_variables(self._env.parse(self.source(name, channel)))
        except (LetterError, TemplateSyntaxError, OSError, UnicodeDecodeError):
            return False

    def _branch_states(self, name: str, channel: str, context: Mapping[str, Any]) -> list[dict[str, Any]]:
        try:
            tree = self._env.parse(self.source(name, channel))
        except (TemplateSyntaxError, OSError, UnicodeDecodeError):
            return []  # the render of `context` says what is wrong
        return list(flipped_contexts(context, branch_fields(tree, CONTEXT_KEYS)))

    def _known(self, name: str, channel: str) -> None:
        if not NAME.match(channel) or name not in self.names(channel):
            known = ", ".join(self.names(channel)) or "none"
            kind = "" if channel == "email" else f"{channel} "
            raise LetterError(f"no {kind}letter named {name!r} (known: {known})")

    def _template(self, name: str, channel: str) -> tuple[Template, str]:
        """The compiled template and how errors name its file; a broken one is not kept, and fails each time."""
        if (name, channel) in self._compiled:
            return self._compiled[name, channel]
        self._known(name, channel)
        label = self._label(name, channel)
        try:
            template = self._env.get_template(_file(name, channel))
        except TemplateSyntaxError as error:
            raise LetterError(f"letter {label} line {error.lineno}: syntax error: {error.message}") from None
        except (OSError, UnicodeDecodeError) as error:
            raise LetterError(f"letter {label}: cannot read it: {error}") from None
        if not self._watch:
            self._compiled[name, channel] = template, label
        return template, label

    def _label(self, name: str, channel: str) -> str:
        """How errors name the file: the office's copy by its path, a packaged letter by its name."""
        file = _file(name, channel)
        if self._office and (self._office / file).is_file():
            return str(self._office / file)
        return file

    def _packaged_source(self, file: str) -> tuple[str, str, Callable[[], bool]] | None:
        entry = self._packaged / file
        if not entry.is_file():
            return None
        # Stays current until the office adds its own copy, which then takes over without a restart.
        return entry.read_text(encoding="utf-8"), str(entry), lambda: self._is_packaged(file)

    def _is_packaged(self, file: str) -> bool:
        return not (self._office and (self._office / file).is_file())


def _file(name: str, channel: str) -> str:
    return f"{name}.{channel}.j2"


def _keys(contract: Mapping[str, tuple[str, ...] | None]) -> Iterator[str]:
    for group, fields in contract.items():
        if fields is None:
            yield group
        else:
            yield from (f"{group}.{field}" for field in fields)


# CONTEXT_KEYS as sets, for the check every render makes.
_CONTRACT = tuple((group, frozenset(fields) if fields is not None else None) for group, fields in CONTEXT_KEYS.items())


def _complete(context: Mapping[str, Any]) -> bool:
    """Whether the context has every group and field of CONTEXT_KEYS (which are missing: `_has`)."""
    for group, fields in _CONTRACT:
        if group not in context:
            return False
        if fields is not None:
            value = context[group]
            if not isinstance(value, Mapping) or not value.keys() >= fields:
                return False
    return True


def _has(context: Mapping[str, Any], dotted: str) -> bool:
    group, _, field = dotted.partition(".")
    if group not in context:
        return False
    return not field or isinstance(context[group], Mapping) and field in context[group]


def _line(error: BaseException, template: Template) -> str:
    """The template line an error was raised at: Jinja rewrites tracebacks to point into the template."""
    for frame in reversed(traceback.extract_tb(error.__traceback__)):
        if frame.filename == template.filename and frame.lineno:
            return f" line {frame.lineno}"
    return ""


def _problem(error: Exception) -> str:
    if isinstance(error, SecurityError):
        return f"not allowed: {error}"
    if isinstance(error, TemplateNotFound):
        return f"no template {error.name!r} to include"
    if isinstance(error, TemplateError):
        return str(error)
    return f"{type(error).__name__}: {error}"


def _split(text: str, label: str) -> tuple[str, str]:
    first, _, rest = text.partition("\n")
    if first[:len(SUBJECT)].lower() != SUBJECT.lower():
        raise LetterError(f'letter {label}: the first line must be "Subject: …"')
    subject = " ".join(first[len(SUBJECT):].split())
    if not subject:
        raise LetterError(f"letter {label}: the subject is empty")
    blank, _, body = rest.partition("\n")
    if blank.strip():
        raise LetterError(f"letter {label}: the subject line must be followed by a blank line")
    return subject, _body(body, label)


def _body(text: str, label: str) -> str:
    body = text.strip("\n").rstrip()
    if not body.strip():
        raise LetterError(f"letter {label}: the letter has no text")
    return body


def _too_long(label: str, body: str, max_segments: int) -> list[str]:
    cost = segments(body)
    if cost.count <= max_segments:
        return []
    why = f"; UCS-2 because of {', '.join(repr(char) for char in cost.unsafe)}" if cost.unsafe else ""
    return [f"letter {label}: {cost.count} SMS segments ({cost.encoding}, {cost.units} characters), "
            f"the limit is {max_segments}{why}"]


def _long_date(day: date) -> str:
    return f"{day:%B} {day.day}, {day.year}"


SAMPLE_DAY = date(2026, 11, 23)
# What a caseworker would write for the letters that carry `text`.
SAMPLE_TEXT = {
    "agency-inquiry": "Pat Rivera's Social Security disability payments stopped after the\n"
                      "August payment. The constituent has received no notice explaining why,\n"
                      "and the local field office could not give a reason on four calls. The\n"
                      "constituent depends on these payments for rent and medication.",
    "constituent-update": "Social Security has told us that your payments were stopped by mistake\n"
                          "during a review of your file. They have restarted them, and the\n"
                          "payments you missed for September and October will be deposited\n"
                          "within two weeks.",
    "agency-delay": "Social Security expects to answer again two weeks after the shutdown ends.",
    "case-closed": "Social Security restarted your monthly payments in November and\n"
                   "deposited the back payments for September and October on November 20.",
}
SAMPLE_AGENCY = Agency(key="ssa", name="Social Security Administration", domains=("ssa.gov",), liaison="",
                       response_days=20, business_days=False)


def sample_context(config: Config, letter: str = "", today: date = SAMPLE_DAY) -> dict[str, Any]:
    """A full, realistic made-up case for previews and checks, with exactly the keys of CONTEXT_KEYS.

    `text` is the caseworker's words; a preview of `letter` gets words that fit it.
    """
    agency = config.agencies[0] if config.agencies else SAMPLE_AGENCY
    person = config.staff[0] if config.staff else None
    opened = today - timedelta(days=45)
    signed = opened + timedelta(days=5)
    sent = today if letter == "agency-inquiry" else signed + timedelta(days=1)  # the inquiry goes out today
    days = agency.response_days * 7 // 5 if agency.business_days else agency.response_days
    ref = References(config.office.reference_prefix, config.office.secret).make(today.year, 42)
    office = config.office
    return {
        "office": {"name": office.name, "member": office.member, "district": office.district,
                   "address": office.address, "phone": office.phone, "hours": office.hours,
                   "website": office.website},
        "case": {"ref": str(ref), "subject": "My disability payments stopped", "status": "waiting-agency",
                 "opened_on": _long_date(opened), "agency_control": "",
                 "summary": "My Social Security disability payments stopped in September and nobody at the\n"
                            "local office can tell me why. I have called four times. I need this money for\n"
                            "rent and my medication.",
                 "identifiers": [{"label": "Date of birth", "value": "March 14, 1961"},
                                 {"label": "Social Security number (last four)", "value": "4821"},
                                 {"label": "Mailing address", "value": "214 Oak Street, Durham, NC 27701"}]},
        "constituent": {"name": "Pat Rivera", "first_name": "Pat", "email": "pat.rivera@example.com",
                        "phone": "(919) 555-0142", "address": "214 Oak Street\nDurham, NC", "zip": "27701"},
        "recipient": {"name": "Pat Rivera", "first_name": "Pat", "role": "constituent"},
        "caseworker": ({"name": person.name, "first_name": person.first_name, "title": person.title,
                        "email": person.email} if person else
                       {"name": "Casework Team", "first_name": "", "title": "", "email": office.intake_address}),
        "agency": {"key": agency.key, "name": agency.name, "liaison": agency.liaison,
                   "response_days": agency.response_days, "business_days": agency.business_days},
        "release": {"on_file": True, "signed_on": _long_date(signed), "attached": True},
        "inquiry": {"sent_on": _long_date(sent), "response_due": _long_date(sent + timedelta(days=days)),
                    "followup_number": 1},
        "message": {"sender": "pat.rivera@example.com", "sender_name": "Pat Rivera", "kind": "constituent",
                    "channel": "email", "subject": "Re: My disability payments stopped",
                    "at": f"{_long_date(today)}, 9:12 a.m.",
                    "files": [{"name": "award-letter.pdf", "type": "PDF", "size": "212.4 KB", "attached": True}],
                    "body": "I got another letter from Social Security today saying they are\n"
                            "reviewing my case. Does that mean they got your inquiry?"},
        "links": {"privacy_release_url": config.letters.privacy_release_url,
                  "privacy_release_attached": bool(config.letters.privacy_release_form),
                  "survey_url": config.letters.survey_url,
                  "release_sign_url": f"{config.web.public_url}/release/sample" if config.web and config.web.public_url
                  else "", "release_sign_until": _long_date(today + timedelta(days=14))},
        "notice": "New message from Pat Rivera",
        "text": SAMPLE_TEXT.get(letter, "") if letter else SAMPLE_TEXT["constituent-update"],
        "first_notice": True,
        "today": _long_date(today),
        "status": [{"ref": str(ref), "step": "asked-agency", "agency": agency.name, "since": f"{sent:%B} {sent.day}",
                    "days": agency.response_days, "business_days": agency.business_days,
                    "write_by": "December 1"}],
        "language": "en",
    }
