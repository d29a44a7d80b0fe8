"""new_text: the new part of a reply, without quoted history or signature.

First the shapes a US congressional office receives (Gmail, Outlook, Apple Mail, Yahoo, Spanish clients),
written out by hand with the exact text expected; then what must never be cut; then the shared corpus
(tests/corpus.py): discourse's 64 bodies with exact expected output, mailgun/talon's client replies and
inline cases, and the github-family fixtures with their false-positive traps. Texts are compared after
collapsing whitespace, as upstream compares them.
"""

from __future__ import annotations

import email
import email.iterators
import functools
import json
from pathlib import Path
from typing import Any

import pytest

from hub.intake.parse.reply_text import new_text
from tests.corpus import CORPUS, corpus_dir

OFFICE = "Office of Rep. Smith <casework@mail.house.gov>"
QUOTED = "> Dear Ms. Lopez,\n>\n> We need a copy of your passport.\n>\n> Casework team\n"
ORIGINAL = "Dear Ms. Lopez,\n\nWe need a copy of your passport.\n\nCasework team\n"
OUTLOOK_BLOCK = (
    f"From: {OFFICE}\nSent: Monday, March 4, 2024 10:30 AM\nTo: Maria Lopez <maria@example.com>\n"
    "Subject: RE: Passport case 1234\n\n"
)

SHAPES = [
    pytest.param(
        f"I'll send it tomorrow.\n\nMaria\n\nOn Mon, Mar 4, 2024 at 10:30 AM {OFFICE} wrote:\n\n{QUOTED}",
        "I'll send it tomorrow.\n\nMaria",
        id="gmail",
    ),
    pytest.param(
        "I'll send it tomorrow.\n\nOn Mon, Mar 4, 2024 at 10:30 AM Office of Rep. Smith <\n"
        f"casework@mail.house.gov> wrote:\n\n{QUOTED}",
        "I'll send it tomorrow.",
        id="gmail-header-wrapped",
    ),
    pytest.param(
        f"Attached is the copy.\n\nMaria Lopez\n\n{'_' * 32}\n{OUTLOOK_BLOCK}{ORIGINAL}".replace("\n", "\r\n"),
        "Attached is the copy.\n\nMaria Lopez",
        id="outlook-desktop-rule-crlf",
    ),
    pytest.param(
        f"Attached is the copy.\n\n*From:* {OFFICE}\n*Sent:* Monday, March 4, 2024 10:30 AM\n"
        f"*To:* Maria Lopez <maria@example.com>\n*Subject:* RE: Passport case 1234\n\n{ORIGINAL}",
        "Attached is the copy.",
        id="outlook-stars",
    ),
    pytest.param(
        "Attached is the copy.\n\nFrom: Office of Rep. Smith <casework@mail.house.gov>\n"
        "Sent: Monday, March 4, 2024 10:30 AM\nTo: Maria Lopez <maria@example.com>\n"
        f"Cc: John Lopez <john@example.com>\nSubject: RE: Passport case 1234\n\n{ORIGINAL}",
        "Attached is the copy.",
        id="outlook-web-no-rule",
    ),
    pytest.param(
        f"Attached is the copy.\n\n-----Original Message-----\n{OUTLOOK_BLOCK}{ORIGINAL}",
        "Attached is the copy.",
        id="original-message",
    ),
    pytest.param(
        f"Attached.\n\nGet Outlook for iOS<https://aka.ms/o0ukef>\n________________________________\n{OUTLOOK_BLOCK}"
        + ORIGINAL,
        "Attached.",
        id="outlook-mobile",
    ),
    pytest.param(
        f"Yes, Tuesday works.\n\nSent from my iPhone\n\nOn Mar 4, 2024, at 10:30 AM, {OFFICE} wrote:\n\n{QUOTED}",
        "Yes, Tuesday works.",
        id="apple-mail-ios",
    ),
    pytest.param(
        f"Thank you so much!\n\n\n    On Monday, March 4, 2024 at 10:30:00 AM EST, {OFFICE} wrote:  \n\n {ORIGINAL}",
        "Thank you so much!",
        id="yahoo",
    ),
    pytest.param(f"Thank you!\n\n{QUOTED}", "Thank you!", id="quote-without-header"),
    pytest.param("Thank you!\n\nSent from my iPhone", "Thank you!", id="sent-from-iphone"),
    pytest.param("Thank you!\n\nGet Outlook for Android<https://aka.ms/ghei36>", "Thank you!", id="get-outlook"),
    pytest.param(
        "Thank you!\n\nSent from my Verizon, Samsung Galaxy smartphone\n\n-------- Original message --------\n"
        f"From: {OFFICE}\nDate: 3/4/24 10:30 AM (GMT-05:00)\nTo: maria@example.com\nSubject: Case 1234\n\n{ORIGINAL}",
        "Thank you!",
        id="samsung",
    ),
    pytest.param(
        "Gracias, mañana le envío el pasaporte.\n\n"
        f"El lun, 4 mar 2024 a las 10:30, Oficina del Congresista (<casework@mail.house.gov>) escribió:\n\n{QUOTED}",
        "Gracias, mañana le envío el pasaporte.",
        id="es-gmail",
    ),
    pytest.param(
        "Gracias, mañana le envío el pasaporte.\n\nEl lun, 4 mar 2024 a las 10:30, Oficina del Congresista (<\n"
        f"casework@mail.house.gov>) escribió:\n\n{QUOTED}",
        "Gracias, mañana le envío el pasaporte.",
        id="es-gmail-header-wrapped",
    ),
    pytest.param(
        f"Sí, el martes puedo.\n\nEl 4 mar 2024, a las 10:30, {OFFICE} escribió:\n\n{QUOTED}",
        "Sí, el martes puedo.",
        id="es-apple-mail",
    ),
    pytest.param(
        "Aquí está la copia.\n\nEnviado desde mi iPhone\n\n"
        f"De: {OFFICE}\nEnviado: lunes, 4 de marzo de 2024 10:30\nPara: María López <maria@example.com>\n"
        f"Asunto: RE: Caso 1234\n\n{ORIGINAL}",
        "Aquí está la copia.",
        id="es-outlook",
    ),
    pytest.param(
        f"Aquí está la copia.\n\n-----Mensaje original-----\nDe: {OFFICE}\n"
        f"Enviado el: lunes, 4 de marzo de 2024 10:30\nPara: María López\nAsunto: Caso 1234\n\n{ORIGINAL}",
        "Aquí está la copia.",
        id="es-mensaje-original",
    ),
    pytest.param(
        f"Muchas gracias.\n\nEn lunes, 4 de marzo de 2024, 10:30:00 a. m. EST, {OFFICE} escribió:\n\n{ORIGINAL}",
        "Muchas gracias.",
        id="es-yahoo",
    ),
    pytest.param(
        f"On Mon, Mar 4, 2024 at 10:30 AM {OFFICE} wrote:\n> Can you come in on Tuesday?\n\n"
        "Yes, Tuesday at 2 pm works for me.\n",
        "Yes, Tuesday at 2 pm works for me.",
        id="bottom-posted",
    ),
    pytest.param(
        f"Answers below.\n\nOn Mon, Mar 4, 2024 at 10:30 AM {OFFICE} wrote:\n> What is your claim number?\n\n"
        "12-3456\n\n> When did you file?\n\nJanuary 2023.\n",
        "Answers below.\n\n12-3456\n\nJanuary 2023.",
        id="inline-answers",
    ),
    pytest.param(
        "My phone number changed, it is now 555-0100.\n\nJane Doe\n\nOn an earlier date, Jane Doe wrote:\n"
        "> I applied for my passport in January.\n",
        "My phone number changed, it is now 555-0100.\n\nJane Doe",
        id="quote-at-end-with-its-line",
    ),
    pytest.param("Please call me at home.\n\n-- \nJane Doe\n555-0100\n", "Please call me at home.", id="signature"),
    pytest.param(
        "Here are my claims:\n\n    Claim    Status\n    12-3456  Open\n\n"
        f"On Mon, Mar 4, 2024 at 10:30 AM {OFFICE} wrote:\n{QUOTED}",
        "Here are my claims:\n\n    Claim    Status\n    12-3456  Open",
        id="indentation-kept",
    ),
    pytest.param(
        "Please see the letter below from SSA.\n\n---------- Forwarded message ---------\n"
        "From: SSA <noreply@ssa.gov>\nDate: Mon, Mar 4, 2024 at 10:30 AM\nSubject: Your benefits\n"
        "To: <maria@example.com>\n\nYour benefits were approved.\n",
        "Please see the letter below from SSA.",
        id="forward-with-note",
    ),
]


@pytest.mark.parametrize("body, expected", SHAPES)
def test_client_shapes(body: str, expected: str) -> None:
    assert new_text(body) == expected


KEPT_WHOLE = [
    pytest.param(
        "I wrote to the VA twice.\nThey wrote back: my claim was closed.\n\nPlease help.", id="mentions-wrote"
    ),
    pytest.param(
        'On Monday my caseworker wrote:\n\n"We need your DD-214."\n\nBut I sent it twice! Please help.',
        id="own-account-of-a-letter",
    ),
    pytest.param("I have two questions -- when, and where?\nThanks,\nBob", id="dashes-mid-line"),
    pytest.param(
        "Dear Congressman,\n\nFrom: Maria Lopez\nTo: Rep. Smith\nDate: March 5, 2024\nSubject: Passport delay\n\n"
        "I applied in January and still have nothing.\n\nMaria",
        id="typed-memo",
    ),
    pytest.param(
        "Estimado congresista:\n\nDe: María López\nPara: Oficina del Congresista\nAsunto: Caso de inmigración\n\n"
        "Le escribo porque mi caso lleva dos años.\n\nGracias,\nMaría",
        id="typed-memo-es",
    ),
    pytest.param(
        "Hi,\n\nSent from my work laptop because my phone broke\n\nI need a passport.", id="sent-from-sentence"
    ),
    pytest.param("Appointment\nDate: 03/05/2024\nTime: 10:30\nPlace: our office\n\nSee you then.", id="date-line"),
    pytest.param(f"> On Mon, Mar 4, 2024 at 10:30 AM {OFFICE} wrote:\n> Thanks for writing.", id="only-a-quote"),
    pytest.param("> We received your request.\n\nWhen will I hear back?", id="quote-then-text"),
    pytest.param("Thanks for your help!\n\nBest regards,\nJane Doe\n123 Main St\nSpringfield, IL", id="closing-kept"),
]


@pytest.mark.parametrize("body", KEPT_WHOLE)
def test_text_that_is_not_history_is_kept(body: str) -> None:
    assert new_text(body) == body.strip()


def test_blank_and_empty() -> None:
    assert new_text("") == ""
    assert new_text(" \r\n\n") == ""


def flat(text: str) -> str:
    return " ".join(text.split())


# --- discourse/email_reply_trimmer: 64 bodies, each with the exact expected reply ---------------------------

DISCOURSE = "discourse-email_reply_trimmer"
# The five misses are deliberate: embedded_email_7, 17 and 18 keep quotes and drop headers in a way
# particular to Discourse; forwarded_message is only a forward and spam_1 only quotes, and a message
# that is only history is kept whole here (upstream returns the forward's body, and nothing for spam_1).
DISCOURSE_PASSING = [
    "block_code_spacers", "delimiters", "dual_embedded", "email_headers_1", "email_headers_2", "email_headers_3",
    "email_headers_4", "email_headers_5", "embedded_ception", "embedded_email_1", "embedded_email_10",
    "embedded_email_11", "embedded_email_12", "embedded_email_13", "embedded_email_14", "embedded_email_15",
    "embedded_email_16", "embedded_email_19", "embedded_email_2", "embedded_email_3", "embedded_email_4",
    "embedded_email_5", "embedded_email_6", "embedded_email_8", "embedded_email_9", "embedded_email_chinese",
    "embedded_email_dutch_1", "embedded_email_dutch_2", "embedded_email_french_1", "embedded_email_french_2",
    "embedded_email_german_1", "embedded_email_german_2", "embedded_email_german_3", "embedded_email_german_4",
    "embedded_email_german_5", "embedded_email_german_6", "embedded_email_italian", "embedded_email_norwegian",
    "embedded_email_polish_1", "embedded_email_polish_2", "embedded_email_portuguese",
    "embedded_email_quote_text", "embedded_email_russian_1", "embedded_email_russian_2",
    "embedded_email_spanish_1", "embedded_email_spanish_2", "embedded_email_swedish", "embedded_email_ukrainian",
    "forwarded_apple", "forwarded_gmail", "normalize_line_endings", "quote_and_text", "quote_only",
    "retains_spaces_and_formatting", "signatures", "spam_2", "strip", "text_only", "usenet",
]  # fmt: skip


@functools.cache
def discourse_expected() -> dict[str, Any]:
    return json.loads((corpus_dir(DISCOURSE) / "expected.json").read_text(encoding="utf-8"))["files"]


def discourse_case(name: str) -> tuple[str, str]:
    body = (corpus_dir(DISCOURSE) / "emails" / f"{name}.txt").read_bytes().decode("utf-8")
    return body, discourse_expected()[f"emails/{name}.txt"]["trimmed"]


@pytest.mark.parametrize("name", DISCOURSE_PASSING)
def test_discourse(name: str) -> None:
    body, trimmed = discourse_case(name)
    assert flat(new_text(body)) == flat(trimmed)


def test_discourse_pass_count() -> None:
    folder = corpus_dir(DISCOURSE)
    names = sorted(path.stem for path in (folder / "emails").glob("*.txt"))
    assert len(names) == 64
    cases = {name: discourse_case(name) for name in names}
    passing = [name for name, (body, trimmed) in cases.items() if flat(new_text(body)) == flat(trimmed)]
    assert len(passing) >= len(DISCOURSE_PASSING), sorted(set(DISCOURSE_PASSING) - set(passing))


# --- mailgun/talon --------------------------------------------------------------------------------------------

TALON = "mailgun-talon"
STANDARD_REPLIES = ["android", "aol", "apple_mail", "apple_mail_2", "comcast", "gmail", "hotmail", "iphone",
                    "outlook", "sparrow", "thunderbird", "yahoo"]  # fmt: skip


@pytest.mark.parametrize("name", STANDARD_REPLIES)
def test_talon_standard_replies(name: str) -> None:
    """Real clients' replies: the new text is "Hello". talon keeps iphone's "Sent from my iPhone" and
    sparrow's "-- " signature; this project drops phone and "--" signatures."""
    raw = (corpus_dir(TALON) / "fixtures" / "standard_replies" / f"{name}.eml").read_bytes()
    part = next(email.iterators.typed_subpart_iterator(email.message_from_bytes(raw), "text", "plain"))
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    assert new_text(payload.decode(part.get_content_charset() or "utf-8")) == "Hello"


# Where this project differs from talon, on purpose.
TALON_DIFFERENT = {
    "test_reply_and_quotation_splitter_share_line": "a header that starts mid-line is not looked for",
    "test_reply_and_quotation_splitter_share_line#2": "a header that starts mid-line is not looked for",
    "test_reply_and_quotation_splitter_share_line#3": "a header that starts mid-line is not looked for",
    "test_dont_parse_quotations_for_forwarded_messages": "a forwarded message is cut below the sender's note",
}


def talon_inline() -> list[Any]:
    path = CORPUS / TALON / "inline_cases.json"
    if not path.is_file():
        return [pytest.param(None, id="corpus-absent")]
    cases = json.loads(path.read_text(encoding="utf-8"))["cases"]
    return [
        pytest.param(case, id=case["id"].split("::")[1])
        for case in cases
        if case["function"] == "extract_from_plain" and case["id"].split("::")[1] not in TALON_DIFFERENT
    ]


@pytest.mark.parametrize("case", talon_inline())
def test_talon_inline(case: dict[str, str] | None) -> None:
    corpus_dir(TALON)
    assert case is not None
    assert flat(new_text(case["input"])) == flat(case["expected"])


# --- github/email_reply_parser and its ports (willdurand PHP, crisp JS, zapier Python) ----------------------

GITHUB_FAMILY = {
    "github": "github-email_reply_parser",
    "willdurand": "willdurand-EmailReplyParser",
    "crisp": "crisp-oss-email-reply-parser",
    "zapier": "zapier-email-reply-parser",
}


def expected_texts() -> list[Any]:
    """Every file whose upstream gives the whole expected reply (`visible_text`, `first_fragment_trimmed`,
    a template's variants): 98 cases, in English, Spanish and a dozen other languages."""
    params = []
    for short, folder in GITHUB_FAMILY.items():
        path = CORPUS / folder / "expected.json"
        if not path.is_file():
            continue
        data = json.loads(path.read_text(encoding="utf-8"))
        common = data.get("COMMON_FIRST_FRAGMENT")
        for key, entry in sorted(data["files"].items()):
            if "requires_custom_quote_header_regex" in entry or not (CORPUS / folder / key).is_file():
                continue  # upstream itself passes those only with a project-specific pattern
            for variant, case in enumerate(entry.get("variants", [])):
                if "visible_text" in case:
                    source = (key, entry["template_placeholder"], case["substitute"])
                    params.append(pytest.param(folder, source, case["visible_text"], id=f"{short}-{key}#{variant}"))
            for field in ("visible_text", "visible_text_trimmed", "first_fragment_trimmed", "reply_stripped"):
                if field in entry:
                    text = common if entry[field] == "COMMON_FIRST_FRAGMENT" else entry[field]
                    params.append(pytest.param(folder, (key, None, None), text, id=f"{short}-{key}"))
    return params or [pytest.param(None, (None, None, None), None, id="corpus-absent")]


@pytest.mark.parametrize("folder, source, expected", expected_texts())
def test_github_family(folder: str | None, source: tuple[Any, Any, Any], expected: str | None) -> None:
    if folder is None:
        corpus_dir(GITHUB_FAMILY["github"])
    assert folder is not None and expected is not None
    key, placeholder, substitute = source
    body = (corpus_dir(folder) / key).read_bytes().decode("utf-8")
    if placeholder:
        body = body.replace(placeholder, substitute)
    assert flat(new_text(body)) == flat(expected)


def fixture(folder: str, name: str) -> str:
    return (corpus_dir(folder) / name).read_bytes().decode("utf-8")


@pytest.mark.parametrize(
    "folder, name",
    [
        ("github-email_reply_parser", "emails/email_1_5.txt"),
        ("github-email_reply_parser", "emails/email_sig_delimiter_in_middle_of_line.txt"),
        ("crisp-oss-email-reply-parser", "fixtures/email_tricky_1_on_false_positive.txt"),
        ("crisp-oss-email-reply-parser", "fixtures/email_tricky_2_url_with_wrote.txt"),
        ("crisp-oss-email-reply-parser", "fixtures/email_tricky_3_code_block.txt"),
        ("crisp-oss-email-reply-parser", "fixtures/email_tricky_4_from_in_body.txt"),
        ("crisp-oss-email-reply-parser", "fixtures/email_tricky_6_regards_in_sentence.txt"),
        ("crisp-oss-email-reply-parser", "fixtures/email_tricky_7_multiple_dashes.txt"),
        ("crisp-oss-email-reply-parser", "fixtures/email_tricky_8_sent_from_in_content.txt"),
        ("crisp-oss-email-reply-parser", "fixtures/email_tricky_13_timestamp_variations.txt"),
        ("crisp-oss-email-reply-parser", "fixtures/email_tricky_19_quote_without_header.txt"),
        ("crisp-oss-email-reply-parser", "fixtures/email_not_a_signature.txt"),
        ("crisp-oss-email-reply-parser", "fixtures/email_not_a_signature_2.txt"),
    ],
)
def test_false_positive_traps_kept_whole(folder: str, name: str) -> None:
    """ "On" starting a sentence, "wrote" in a URL, "from:" in a sentence, dashes in Markdown, "sent from my
    iPhone app" mid-sentence, timestamps, `--` list items, an inline reply with no header: nothing is cut."""
    body = fixture(folder, name)
    assert flat(new_text(body)) == flat(body)


GITHUB, WILLDURAND, CRISP = GITHUB_FAMILY["github"], GITHUB_FAMILY["willdurand"], GITHUB_FAMILY["crisp"]


@pytest.mark.parametrize(
    "folder, name, kept, cut",
    [
        (GITHUB, "emails/email_one_is_not_on.txt", "One outstanding question", "On Oct 1, 2012"),
        (GITHUB, "emails/greedy_on.txt", "On your remote host", "On 9 Jan 2014"),
        (GITHUB, "emails/correct_sig.txt", "this is an email with a correct -- signature.", "rick"),
        (GITHUB, "emails/email_1_3.txt", "Having the function would be great.", "Russell Brown"),
        (GITHUB, "emails/email_1_8.txt", "and under this.", "okay?"),
        (WILLDURAND, "fixtures/email_19.txt", "On Thursday", "Was this"),
        (WILLDURAND, "fixtures/email_23_1.txt", "Something wrote:\nDuis ut libero", "Ticket answered"),
        (WILLDURAND, "fixtures/email_zimbra_free_en.txt", "Michael Scott", "Toby Flenderson"),
        (CRISP, "fixtures/email_reply_header.txt", "On the other hand", "On Wed, Dec 9"),
        (CRISP, "fixtures/email_tricky_9_nested_quotes.txt", "I agree", "Jane Doe"),
        (CRISP, "fixtures/email_tricky_20_html_entities.txt", "&gt; 100 and &lt; 200", "Previous"),
    ],
)
def test_fragments(folder: str, name: str, kept: str, cut: str) -> None:
    """Upstream's fragment checks: this text is in the new text, that one (of the quote) is not."""
    text = new_text(fixture(folder, name))
    assert kept in text
    assert cut not in text


def test_github_bottom_post() -> None:
    """Written below the quote: the new text is the unquoted part (github email_1_2, a riak-users post)."""
    text = new_text(fixture("github-email_reply_parser", "emails/email_1_2.txt"))
    assert text.startswith("Hi,\nYou can list the keys for the bucket")
    assert text.endswith('you’ll need to delete them all individually."')
    assert "> " not in text and "riak-users mailing list" not in text


def test_corpus_lookup() -> None:
    """tests/corpus.py finds ../shared/corpus beside the repository clone."""
    assert CORPUS == Path(__file__).resolve().parents[3].parent / "shared" / "corpus"
