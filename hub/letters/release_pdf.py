"""The PDF of a privacy release signed on the hub's page: the form as the agency reads it (in English, with the
statement in the language the constituent signed it in as well), the signature, and an audit trail: when, from
which IP address and browser, by which link (its token id), and the SHA-256 of the signed content.

The hash is of the form's content (`content_hash`: every field, the statement and the signature's image), which
a PDF cannot hold of itself; the stored file is named by the SHA-256 of the PDF's own bytes (hub.core.file_store),
which the case's history records beside it.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import asdict, dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from hub.core.fonts import unicode_fonts
from hub.letters.release_form import ASKS, consent

MAX_USER_AGENT = 300


@dataclass(frozen=True)
class SignedForm:
    office: str
    member: str
    agency: str
    case_ref: str
    name_on_file: str
    address: str
    email: str
    phone: str
    full_name: str
    answers: tuple[tuple[str, str], ...]  # (ask key, the answer as checked) in the agency's order
    language: str
    typed_signature: str
    drawn_sha256: str  # of the drawn signature's PNG; "" when typed


@dataclass(frozen=True)
class Audit:
    signed_at: datetime
    timezone: str
    ip_address: str
    user_agent: str
    token_id: str


def content_hash(form: SignedForm) -> str:
    """The SHA-256 (hex) of what was signed: the form's fields, the statement agreed to and the signature."""
    record = {**asdict(form), "statement": _statement(form, form.language)}
    return hashlib.sha256(json.dumps(record, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _statement(form: SignedForm, lang: str) -> str:
    return consent(lang, form.agency, form.member, form.office)


class _Form:
    """A letter-size PDF written line by line, in DejaVu Sans when installed (any name), else Helvetica."""

    def __init__(self) -> None:
        # Imported at the first PDF: fpdf brings Pillow and numpy, some 45 MB in every hub process otherwise.
        from fpdf import FPDF

        self.pdf = FPDF(format="letter")
        self.pdf.set_auto_page_break(True, margin=15)
        self.family, self.core = "helvetica", True
        fonts = unicode_fonts()
        if fonts is not None:
            self.family, self.core = "dejavu", False
            self.pdf.add_font("dejavu", fname=str(fonts[0]))
            self.pdf.add_font("dejavu", style="B", fname=str(fonts[1]))

    def line_of(self, text: str, size: int = 10, bold: bool = False, gap: float = 0) -> None:
        self.pdf.set_font(self.family, "B" if bold else "", size)
        if self.core:
            text = text.encode("latin-1", "replace").decode("latin-1")
        self.pdf.multi_cell(0, size * 0.5, text, new_x="LMARGIN", new_y="NEXT")
        if gap:
            self.pdf.ln(gap)


def render(form: SignedForm, audit: Audit, drawn: bytes | None) -> tuple[bytes, str]:
    """(the PDF, the content hash it prints)."""
    digest = content_hash(form)
    writer = _Form()
    pdf = writer.pdf
    pdf.set_title(f"Privacy release, case {form.case_ref}")
    pdf.add_page()
    writer.line_of(form.office, size=9)
    writer.line_of("Privacy Act release", size=16, bold=True, gap=1)
    writer.line_of(f"Authorization for {form.member} to receive information from {form.agency}", size=11, gap=3)
    rows = [("Case", form.case_ref), ("Agency", form.agency), ("Full legal name", form.full_name),
            ("Name on the case", form.name_on_file), ("Address", form.address), ("Email", form.email),
            ("Phone", form.phone)]
    rows += [(ASKS[key].label["en"], value) for key, value in form.answers]
    for label, value in rows:
        if value:
            writer.line_of(f"{label}: {value}", size=10)
    pdf.ln(3)
    writer.line_of("Statement", size=12, bold=True, gap=1)
    writer.line_of(_statement(form, "en"), size=10, gap=2)
    if form.language != "en":
        writer.line_of("As agreed to by the signer in Spanish:", size=9, bold=True)
        writer.line_of(_statement(form, form.language), size=9, gap=2)
    writer.line_of("Signature", size=12, bold=True, gap=1)
    if drawn is not None:
        pdf.image(io.BytesIO(drawn), w=70)
        writer.line_of("(drawn on screen)", size=8)
    else:
        writer.line_of(form.typed_signature, size=18)
        writer.line_of("(typed as signature)", size=8)
    local = audit.signed_at.astimezone(ZoneInfo(audit.timezone))
    writer.line_of(f"Signed electronically by {form.full_name} on {local:%B} {local.day}, {local.year}", size=10, gap=4)
    writer.line_of("Audit trail", size=12, bold=True, gap=1)
    for label, value in (
            ("Signed at (UTC)", audit.signed_at.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%d %H:%M:%S UTC")),
            ("Signed at (office time)", local.strftime("%Y-%m-%d %H:%M:%S %Z")),
            ("IP address", audit.ip_address or "unknown"),
            ("User agent", audit.user_agent[:MAX_USER_AGENT] or "unknown"),
            ("Link token id", audit.token_id),
            ("Signing method", "e-sign: personal link sent by email, typed name and "
                               + ("drawn signature" if drawn is not None else "typed signature")),
            ("Document SHA-256", digest)):
        writer.line_of(f"{label}: {value}", size=9)
    writer.line_of("The SHA-256 is of the signed content: every field above, the statement in the signer's language "
                "and the signature image.", size=8)
    return bytes(pdf.output()), digest
