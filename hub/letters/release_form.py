"""The privacy release signed by link: what it says, in English and Spanish, what it asks for an agency's file
(the agency's `release_asks`), how each answer is checked, and how it is shown back (masked).

The page (hub.run.release_page) and the signed PDF (hub.letters.release_pdf) both take their words here, so
the constituent signs the statement the PDF prints.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

LANGUAGES = ("en", "es")
MAX_NAME = 200


@dataclass(frozen=True)
class Ask:
    """One thing an agency needs to find the file: its field name, labels, input hints and check."""

    key: str
    label: dict[str, str]
    hint: dict[str, str]
    input_mode: str  # the phone keyboard it wants
    autocomplete: str


ASKS = {
    "birth_date": Ask("birth_date", {"en": "Date of birth", "es": "Fecha de nacimiento"},
                      {"en": "Month, day and year, for example 04/27/1958.",
                       "es": "Mes, día y año, por ejemplo 04/27/1958."}, "numeric", "bday"),
    "ssn_last4": Ask("ssn_last4", {"en": "Last four digits of your Social Security number",
                                   "es": "Últimos cuatro dígitos de su número de Seguro Social"},
                     {"en": "4 digits.", "es": "4 dígitos."}, "numeric", "off"),
    "claim_number": Ask("claim_number", {"en": "VA claim or file number",
                                         "es": "Número de reclamo o de expediente del VA"},
                        {"en": "On your VA letters; 8 or 9 digits.", "es": "En sus cartas del VA; 8 o 9 dígitos."},
                        "numeric", "off"),
    "a_number": Ask("a_number", {"en": "A-number (Alien Registration Number)",
                                 "es": "Número A (número de registro de extranjero)"},
                    {"en": "A followed by 8 or 9 digits, on your green card or USCIS notices.",
                     "es": "A seguida de 8 o 9 dígitos, en su tarjeta de residencia o avisos de USCIS."},
                    "text", "off"),
}

WORDS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Privacy release", "heading": "Sign your privacy release",
        "intro": "{office} needs your permission before {agency} can discuss your file with us. Check your "
                 "details, fill in what the agency needs to find your file, and sign below.",
        "your_details": "Your details", "name_on_file": "Name", "address": "Address", "email": "Email",
        "phone": "Phone", "case": "Case", "agency": "Agency", "the_agency": "the federal agency",
        "agency_needs": "What the agency needs to find your file",
        "full_name": "Your full legal name", "full_name_hint": "As it appears on your agency records.",
        "signature": "Your signature", "draw_hint": "Draw your signature in the box with your finger or mouse, or "
                                                   "type your name below instead.",
        "clear_drawing": "Clear drawing", "typed_signature": "Type your name as your signature",
        "typed_hint": "Needed unless you drew your signature above.",
        "consent_heading": "Your consent", "consent_label": "I agree to the statement above and sign this release "
                                                          "electronically.",
        "sign": "Sign the release", "language": "Español", "language_code": "es",
        "errors_heading": "Please correct {count} thing(s):",
        "sensitive_again": "For your privacy we do not show back your {fields}; please enter them again.",
        "required": "{field}: this is required.", "bad_date": "{field}: enter a real date in the past, "
                                                              "month/day/year.",
        "bad_ssn": "{field}: enter exactly 4 digits.", "bad_claim": "{field}: enter 8 or 9 digits.",
        "bad_a_number": "{field}: enter A followed by 8 or 9 digits.",
        "bad_drawing": "Your signature: the drawing could not be read; clear it and draw again, or type your name.",
        "no_signature": "Your signature: draw it in the box or type your name.",
        "no_consent": "Your consent: check the box to agree to the statement.",
        "too_long": "{field}: at most {limit} characters.",
        "done_title": "Thank you: your release is signed",
        "done_text": "We have your signed privacy release for case {ref}. Your caseworker will contact {agency} "
                     "for you and let you know what they say. You can close this page.",
        "done_details": "What you signed",
        "refused_title": "This link does not work",
        "forged": "This link is not valid. Please use the link in the email from our office exactly as it was "
                  "sent, or call us.",
        "expired": "This link has expired. Please reply to our email or call us, and we will send you a new one.",
        "used": "This release was already signed with this link. You do not need to do anything else.",
        "revoked": "This link was cancelled by our office. Please use the newest link we sent you, or call us.",
        "call_us": "Questions? Call {phone}.", "error_title": "Something went wrong",
        "error_text": "We could not record your signature just now. Nothing was signed. Please try again in a few "
                      "minutes.",
        "consent": "I authorize {agency} to release to {member}, and to the staff of {office} acting for "
                   "{member}, any information in my records that they need to answer my request for help. "
                   "This authorization is given under the Privacy Act of 1974 (5 U.S.C. 552a(b)) and lasts "
                   "until my case is closed. I understand that signing electronically on this page is the same "
                   "as signing by hand.",
        "date_format": "{month:02d}/{day:02d}/{year}",
    },
    "es": {
        "title": "Autorización de privacidad", "heading": "Firme su autorización de privacidad",
        "intro": "{office} necesita su permiso antes de que {agency} pueda hablar de su expediente con nosotros. "
                 "Revise sus datos, complete lo que la agencia necesita para encontrar su expediente y firme abajo.",
        "your_details": "Sus datos", "name_on_file": "Nombre", "address": "Dirección",
        "email": "Correo electrónico", "phone": "Teléfono", "case": "Caso", "agency": "Agencia",
        "the_agency": "la agencia federal",
        "agency_needs": "Lo que la agencia necesita para encontrar su expediente",
        "full_name": "Su nombre legal completo", "full_name_hint": "Como aparece en los registros de la agencia.",
        "signature": "Su firma", "draw_hint": "Dibuje su firma en el recuadro con el dedo o el ratón, o escriba su "
                                             "nombre abajo.",
        "clear_drawing": "Borrar el dibujo", "typed_signature": "Escriba su nombre como firma",
        "typed_hint": "Necesario si no dibujó su firma arriba.",
        "consent_heading": "Su consentimiento",
        "consent_label": "Acepto la declaración anterior y firmo esta autorización electrónicamente.",
        "sign": "Firmar la autorización", "language": "English", "language_code": "en",
        "errors_heading": "Por favor corrija {count} dato(s):",
        "sensitive_again": "Para proteger su privacidad no mostramos de nuevo: {fields}; escríbalos otra vez.",
        "required": "{field}: este dato es obligatorio.",
        "bad_date": "{field}: escriba una fecha real en el pasado, mes/día/año.",
        "bad_ssn": "{field}: escriba exactamente 4 dígitos.", "bad_claim": "{field}: escriba 8 o 9 dígitos.",
        "bad_a_number": "{field}: escriba A seguida de 8 o 9 dígitos.",
        "bad_drawing": "Su firma: no pudimos leer el dibujo; bórrelo y dibuje de nuevo, o escriba su nombre.",
        "no_signature": "Su firma: dibújela en el recuadro o escriba su nombre.",
        "no_consent": "Su consentimiento: marque la casilla para aceptar la declaración.",
        "too_long": "{field}: como máximo {limit} caracteres.",
        "done_title": "Gracias: su autorización está firmada",
        "done_text": "Tenemos su autorización de privacidad firmada para el caso {ref}. Su asistente se comunicará "
                     "con {agency} por usted y le informará lo que respondan. Puede cerrar esta página.",
        "done_details": "Lo que usted firmó",
        "refused_title": "Este enlace no funciona",
        "forged": "Este enlace no es válido. Use el enlace del correo de nuestra oficina tal como se envió, o "
                  "llámenos.",
        "expired": "Este enlace ha vencido. Responda a nuestro correo o llámenos y le enviaremos uno nuevo.",
        "used": "Esta autorización ya se firmó con este enlace. No necesita hacer nada más.",
        "revoked": "Nuestra oficina canceló este enlace. Use el enlace más reciente que le enviamos, o llámenos.",
        "call_us": "¿Preguntas? Llame al {phone}.", "error_title": "Algo salió mal",
        "error_text": "No pudimos registrar su firma en este momento. No se firmó nada. Inténtelo de nuevo en unos "
                      "minutos.",
        "consent": "Autorizo a {agency} a entregar a {member}, y al personal de {office} que actúa en nombre de "
                   "{member}, toda información de mis registros que necesiten para responder a mi pedido de "
                   "ayuda. Doy esta autorización conforme a la Ley de Privacidad de 1974 (5 U.S.C. 552a(b)) y "
                   "vale hasta que se cierre mi caso. Entiendo que firmar electrónicamente en esta página es lo "
                   "mismo que firmar a mano.",
        "date_format": "{month:02d}/{day:02d}/{year}",
    },
}

_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})|(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})")


def language(asked: str | None, accept_language: str = "") -> str:
    """The page's language: the one asked for (?lang=), else Spanish when the browser puts it first, else English."""
    if asked in LANGUAGES:
        return str(asked)
    first = accept_language.split(",")[0].split(";")[0].strip().lower()
    return "es" if first.startswith("es") else "en"


def check_answer(ask: str, value: str, today: date, lang: str) -> tuple[str, str]:
    """(the answer as the PDF writes it, "") or ("", the problem in the page's language)."""
    words, label = WORDS[lang], ASKS[ask].label[lang]
    value = value.strip()
    if not value:
        return "", words["required"].format(field=label)
    if ask == "birth_date":
        found = _DATE.fullmatch(value)
        try:
            day = (date(int(found[1]), int(found[2]), int(found[3])) if found and found[1]
                   else date(int(found[6]), int(found[4]), int(found[5])) if found else None)
        except ValueError:
            day = None
        if day is None or not date(1900, 1, 1) <= day < today:
            return "", words["bad_date"].format(field=label)
        return day.isoformat(), ""
    digits = re.sub(r"[\s-]", "", value)
    if ask == "ssn_last4":
        return (digits, "") if re.fullmatch(r"\d{4}", digits) else ("", words["bad_ssn"].format(field=label))
    if ask == "claim_number":
        return (digits, "") if re.fullmatch(r"\d{8,9}", digits) else ("", words["bad_claim"].format(field=label))
    found = re.fullmatch(r"[Aa]?(\d{8,9})", digits)
    return (f"A{found[1]}", "") if found else ("", words["bad_a_number"].format(field=label))


def masked(ask: str, value: str) -> str:
    """An answer as it is shown back: never whole (`••/••/1958`, `•••-••-••34`, `A•••••••89`)."""
    if ask == "birth_date":
        return f"••/••/{value[:4]}"
    if ask == "ssn_last4":
        return f"•••-••-••{value[-2:]}"
    if ask == "a_number":
        return "A" + "•" * (len(value) - 3) + value[-2:]
    return "•" * (len(value) - 2) + value[-2:]


def consent(lang: str, agency: str, member: str, office: str) -> str:
    return WORDS[lang]["consent"].format(agency=agency, member=member, office=office)
