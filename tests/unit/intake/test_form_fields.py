"""Reading a web form's notification: labels and values in plain text and in HTML tables."""

from __future__ import annotations

from hub.core.config_forms import DEFAULT_LABELS
from hub.intake.form_fields import normalised, read_fields

LABELS = dict(DEFAULT_LABELS)


def test_plain_text_label_lines_with_a_message_running_on_until_the_signature_line() -> None:
    text = ("Name: Pat Rivera\nEmail: pat.rivera@example.com\nPhone: (919) 555-0142\nSubject: Passport\n\n"
            "Message:\nFirst paragraph.\nStill the first.\n\nSecond paragraph: with a colon.\n\n-- \n"
            "This e-mail was sent from a contact form on Office of Representative Jane Doe")
    assert read_fields(text, "", LABELS) == {
        "name": "Pat Rivera", "email": "pat.rivera@example.com", "phone": "(919) 555-0142", "subject": "Passport",
        "message": "First paragraph.\nStill the first.\n\nSecond paragraph: with a colon."}


def test_labels_match_whatever_their_case_spacing_colon_or_required_marker() -> None:
    text = "FULL  NAME *: Pat Rivera\n**E-mail Address:** pat@example.com\nzip code (required): 27701\n"
    assert read_fields(text, "", LABELS) == {"name": "Pat Rivera", "email": "pat@example.com", "zip": "27701"}
    assert normalised("  Email Address * : ") == "email address"


def test_a_label_alone_on_its_line_has_its_value_on_the_next() -> None:
    text = "Your Name:\nLucía Gómez\nPhone:\n984-555-0123\nAddress:\n88 Alston Ave\nDurham, NC\nZIP Code: 27701\n"
    assert read_fields(text, "", LABELS) == {"name": "Lucía Gómez", "phone": "984-555-0123",
                                             "address": "88 Alston Ave\nDurham, NC", "zip": "27701"}


def test_an_empty_field_does_not_take_the_next_label_line_as_its_value() -> None:
    text = "Name: Pat\nPhone:\nTopic: Veterans\nEmail: pat@example.com\n"
    assert read_fields(text, "", LABELS) == {"name": "Pat", "email": "pat@example.com"}


def test_the_first_of_a_label_counts_and_a_later_one_in_the_message_stays_text() -> None:
    text = "Email: pat@example.com\nMessage:\nI wrote before.\nEmail: my old one was pat@old.example.com\n"
    fields = read_fields(text, "", LABELS)
    assert fields["email"] == "pat@example.com"
    assert fields["message"] == "I wrote before.\nEmail: my old one was pat@old.example.com"


def test_several_labels_of_one_field_join_for_an_address_and_the_first_counts_for_others() -> None:
    labels = LABELS | {"address": ("Street Address", "City", "State"), "email": ("Email", "Alternate Email")}
    text = ("Street Address: 1412 Cedar Fork Rd\nCity: Durham\nState: NC\nAlternate Email: b@example.com\n"
            "Email: a@example.com\n")
    fields = read_fields(text, "", labels)
    assert fields["address"] == "1412 Cedar Fork Rd\nDurham\nNC"
    assert fields["email"] == "a@example.com", "the labels' order decides, not the notification's"


def test_html_table_of_header_and_data_cells() -> None:
    html = ("<table><tr><th>First Name</th><td>Robert</td></tr><tr><th>Last Name:</th><td>Chen</td></tr>"
            "<tr><th>Email</th><td><a href='mailto:rchen58@example.org'>rchen58@example.org</a></td></tr>"
            "<tr><th>Message</th><td>Line one<br>Line &amp; two</td></tr></table>")
    assert read_fields("", html, LABELS) == {"first_name": "Robert", "last_name": "Chen",
                                             "email": "rchen58@example.org", "message": "Line one\nLine & two"}


def test_html_table_of_two_data_cells_with_an_empty_value() -> None:
    html = ("<table><tr><td>Name</td><td>Pat Rivera</td></tr><tr><td>Phone</td><td></td></tr>"
            "<tr><td>Email</td><td>pat@example.com</td></tr></table>")
    assert read_fields("", html, LABELS) == {"name": "Pat Rivera", "email": "pat@example.com"}


def test_html_label_rows_and_value_rows_in_a_nested_layout_table() -> None:
    """Gravity Forms' {all_fields}: a row holding the label, the next row the value after a spacer cell."""
    def field(label: str, value: str) -> str:
        return (f'<tr bgcolor="#EAF2FA"><td colspan="2"><font style="font-family:sans-serif"><strong>{label}'
                f'</strong></font></td></tr>\n<tr bgcolor="#FFFFFF"><td width="20">&nbsp;</td><td><font>{value}'
                "</font></td></tr>\n")
    html = ('<html><head><style>td { color: red; }</style><script>var Name = "x";</script></head><body>'
            '<table width="99%" border="0"><tr><td><table width="100%" border="0" cellpadding="5">'
            + field("Name", "Robert Chen") + field("Email", "rchen58@example.org") + field("Phone", "")
            + field("ZIP", "27713") + field("Message", "<p>Claim filed in March.</p><p>No exam yet.</p>")
            + "</table></td></tr></table></body></html>")
    assert read_fields("", html, LABELS) == {"name": "Robert Chen", "email": "rchen58@example.org", "zip": "27713",
                                             "message": "Claim filed in March.\n\nNo exam yet."}


def test_unclosed_cells_and_rows_still_read() -> None:
    html = "<table><tr><th>Name<td>Pat Rivera<tr><th>Email<td>pat@example.com</table>"
    assert read_fields("", html, LABELS) == {"name": "Pat Rivera", "email": "pat@example.com"}


def test_the_reading_with_more_fields_wins_and_the_text_on_a_tie() -> None:
    text = "Name Pat Rivera\nEmail pat@example.com"  # the plain part of an HTML table: no colons
    html = "<table><tr><th>Name</th><td>Pat Rivera</td></tr><tr><th>Email</th><td>pat@example.com</td></tr></table>"
    assert read_fields(text, html, LABELS) == {"name": "Pat Rivera", "email": "pat@example.com"}
    assert read_fields("Name: Pat from the text", "<table><tr><th>Name</th><td>Pat</td></tr></table>",
                       LABELS) == {"name": "Pat from the text"}


def test_nothing_known_reads_as_nothing() -> None:
    assert read_fields("Hello,\nplease call me back.\nThanks: Pat", "<p>Hello</p>", LABELS) == {}
    assert read_fields("", "<table><tr><td>Colour</td><td>blue</td></tr></table>", LABELS) == {}
