"""Urgency from a constituent's first message: each kind in English and Spanish, each date form, the
boundaries, and the messages that must not look urgent."""

from __future__ import annotations

import unicodedata
from datetime import date, datetime

import pytest

from hub.core.urgency_rules import UrgencyRules
from hub.intake.urgency import TRIGGERS, Urgency, find_urgency

FRIDAY = date(2026, 11, 20)  # the day the message arrived, a Friday

TRAVEL_EN = """Dear Congresswoman Doe,

My name is Maria Lopez and I live in Greensboro. I applied for a passport for my son in September at the
post office and paid for expedited service, but it has not arrived. Our flight to Madrid {when} for my
father's surgery. The passport agency line is always busy.

Thank you for any help,
Maria Lopez
(336) 555-0142"""

TRAVEL_ES = """Estimada oficina:

Me llamo José Hernández. Solicité mi pasaporte hace dos meses y todavía no lo he recibido. Mi vuelo a
Guadalajara sale {when} y mi madre está muy enferma.

Muchas gracias por su ayuda.
José Hernández"""


def urgency(text: str, subject: str = "Help please", received: date = FRIDAY,
            rules: UrgencyRules | None = None) -> Urgency | None:
    return find_urgency(subject, text, received, rules or UrgencyRules())


@pytest.mark.parametrize(("when", "expected"), [
    ("leaves on December 3", "on December 3, 2026 (in 13 days)"),
    ("leaves on Dec. 3rd", "on December 3, 2026 (in 13 days)"),
    ("leaves Dec 3", "on December 3, 2026 (in 13 days)"),
    ("leaves on 3 December", "on December 3, 2026 (in 13 days)"),
    ("leaves on the 3rd of December", "on December 3, 2026 (in 13 days)"),
    ("leaves on December 3, 2026", "on December 3, 2026 (in 13 days)"),
    ("leaves on 12/3", "on December 3, 2026 (in 13 days)"),
    ("leaves on 12/03/2026", "on December 3, 2026 (in 13 days)"),
    ("leaves on 12/03/26", "on December 3, 2026 (in 13 days)"),
    ("leaves on 2026-12-03", "on December 3, 2026 (in 13 days)"),
    ("leaves on Thursday, December 3, 2026", "on December 3, 2026 (in 13 days)"),
    ("leaves on the 3rd", "on December 3, 2026 (in 13 days)"),  # the 3rd of November is past
    ("leaves on the 25th", "on November 25, 2026 (in 5 days)"),
    ("leaves tomorrow", "on November 21, 2026 (tomorrow, within 72 hours)"),
    ("leaves the day after tomorrow", "on November 22, 2026 (in 2 days, within 72 hours)"),
    ("leaves in 3 days", "on November 23, 2026 (in 3 days, within 72 hours)"),
    ("leaves in three days", "on November 23, 2026 (in 3 days, within 72 hours)"),
    ("leaves in two weeks", "on December 4, 2026 (in 14 days)"),
    ("leaves this Monday", "on November 23, 2026 (in 3 days, within 72 hours)"),
    ("leaves on Wednesday", "on November 25, 2026 (in 5 days)"),
    ("leaves this Friday", "on November 27, 2026 (in 7 days)"),  # written on a Friday: the next one
    ("leaves next week", "next week (by November 29, 2026)"),
    ("leaves this weekend", "this weekend (by November 22, 2026)"),
])
def test_travel_dates_in_english(when: str, expected: str) -> None:
    assert urgency(TRAVEL_EN.format(when=when)) == Urgency("travel", f"passport: travel {expected}")


@pytest.mark.parametrize(("when", "expected"), [
    ("el 3 de diciembre", "on December 3, 2026 (in 13 days)"),
    ("el 3 de diciembre de 2026", "on December 3, 2026 (in 13 days)"),
    ("el jueves 3 de diciembre del 2026", "on December 3, 2026 (in 13 days)"),
    ("el 1° de diciembre", "on December 1, 2026 (in 11 days)"),
    ("el día 25", "on November 25, 2026 (in 5 days)"),
    ("mañana", "on November 21, 2026 (tomorrow, within 72 hours)"),
    ("manana temprano", "on November 21, 2026 (tomorrow, within 72 hours)"),
    ("mañana por la mañana", "on November 21, 2026 (tomorrow, within 72 hours)"),
    ("pasado mañana", "on November 22, 2026 (in 2 days, within 72 hours)"),
    ("en 3 días", "on November 23, 2026 (in 3 days, within 72 hours)"),
    ("en tres dias", "on November 23, 2026 (in 3 days, within 72 hours)"),
    ("dentro de una semana", "on November 27, 2026 (in 7 days)"),
    ("este miércoles", "on November 25, 2026 (in 5 days)"),
    ("el próximo lunes", "on November 23, 2026 (in 3 days, within 72 hours)"),
    ("el viernes que viene", "on November 27, 2026 (in 7 days)"),
    ("la próxima semana", "next week (by November 29, 2026)"),
    ("la semana que viene", "next week (by November 29, 2026)"),
    ("este fin de semana", "this weekend (by November 22, 2026)"),
])
def test_travel_dates_in_spanish(when: str, expected: str) -> None:
    assert urgency(TRAVEL_ES.format(when=when), "Pasaporte urgente") == Urgency("travel",
                                                                               f"passport: travel {expected}")


def test_day_first_numeric_date_with_a_year_as_spanish_writers_put_it() -> None:
    found = urgency(TRAVEL_ES.format(when="el 15/12/2026"), received=date(2026, 12, 5))
    assert found == Urgency("travel", "passport: travel on December 15, 2026 (in 10 days)")


def test_visa_in_the_subject_and_the_date_in_the_body() -> None:
    text = ("Good afternoon. My wife is a Colombian citizen waiting for her tourist visa to be printed. "
            "We are flying to Bogotá on Dec 1 for my mother-in-law's 80th birthday.\n\nRegards,\nTom")
    assert urgency(text, "Visa stuck at the consulate") == Urgency(
        "travel", "visa: travel on December 1, 2026 (in 11 days)")


def test_initials_and_titles_do_not_end_a_sentence() -> None:
    text = "Please help with my passport. We are flying to the U.S. Virgin Islands on Dec. 1 to see Dr. Ortiz."
    assert urgency(text) == Urgency("travel", "passport: travel on December 1, 2026 (in 11 days)")


def test_accents_and_decomposed_text_do_not_matter() -> None:
    decomposed = unicodedata.normalize("NFD", TRAVEL_ES.format(when="mañana en 3 días"))
    assert decomposed != unicodedata.normalize("NFC", decomposed)
    found = urgency(decomposed)
    assert found is not None and "tomorrow" in found.reason
    assert urgency("PASAPORTE: VIAJO EL 3 DE DICIEMBRE.") == urgency("pasaporte: viajo el 3 de diciembre.")


def test_the_travel_window_boundary() -> None:
    assert urgency(TRAVEL_EN.format(when="leaves on December 4")) == Urgency(
        "travel", "passport: travel on December 4, 2026 (in 14 days)")
    assert urgency(TRAVEL_EN.format(when="leaves on December 5")) is None
    short = UrgencyRules(travel_days=5)
    assert urgency(TRAVEL_EN.format(when="leaves on November 25"), rules=short) is not None
    assert urgency(TRAVEL_EN.format(when="leaves on November 26"), rules=short) is None


def test_life_or_death_is_said_only_within_its_hours() -> None:
    three = urgency(TRAVEL_EN.format(when="leaves in 3 days"))
    four = urgency(TRAVEL_EN.format(when="leaves in 4 days"))
    assert three is not None and "within 72 hours" in three.reason
    assert four is not None and "within" not in four.reason
    day = UrgencyRules(life_or_death_hours=24)
    assert "within 24 hours" in str(urgency(TRAVEL_EN.format(when="leaves tomorrow"), rules=day))
    assert "within" not in str(urgency(TRAVEL_EN.format(when="leaves in 2 days"), rules=day))


def test_the_soonest_date_of_the_trip_is_given() -> None:
    text = "My passport is lost. We fly back on December 2, and we fly out on November 24 or 25."
    assert urgency(text) == Urgency("travel", "passport: travel on November 24, 2026 (in 4 days)")


@pytest.mark.parametrize("text", [
    "Hello, I travelled to Spain last year and my passport is about to expire. How do I renew it? Thanks, Ann",
    "I renewed my passport in 2019 and I travel a lot for work. Is my passport card still valid? Bob",
    "My passport was stolen at the airport and my flight was last Tuesday. I am home now. Regards, Sue",
    "Mi pasaporte llegó tarde y mi vuelo fue el martes pasado. Ya estoy en casa.",
    "Hi, how long does a passport renewal take these days? I am planning a trip next year. Thank you, Kim",
    "My flight to Denver is on December 1 and the airline lost my suitcase. Can the Congresswoman help?",
    "Hi! I will travel on March 3 and wanted to ask whether my passport needs six months of validity.",
    "I flew home on 11/02/2026 and my visa was cancelled at the airport. Please advise.",
    "Esta mañana llamé a la oficina de pasaportes. Mi viaje es en marzo.",
    "My passport appointment is on Monday. I am travelling to Peru in April.",
    "My passport was stolen. I fly from the gate on the 2nd floor of the terminal in March.",
    "About my passport: my 2/14 trip is still on, and I wrote on 11/02 and 11/09.",
])
def test_no_false_travel_urgency(text: str) -> None:
    assert urgency(text, "A question") is None


@pytest.mark.parametrize(("text", "reason"), [
    ("Dear office,\n\nMy son, a US citizen, was hospitalized abroad after a car accident in Lima. The hospital "
     "will not release him without payment. Please call me.\n\nCarol Smith", "hospitalised abroad"),
    ("To whom it may concern: my brother died overseas last night while on a work trip and we need help "
     "bringing him home.", "death abroad"),
    ("My daughter was detained in another country at the border and nobody tells us anything.",
     "detained abroad"),
    ("Buenas tardes. Mi hijo fue detenido en el extranjero y no sabemos nada de él. Por favor ayúdenos.",
     "detained abroad"),
    ("Mi esposo está hospitalizado fuera del país y necesitamos ayuda con la embajada.", "hospitalised abroad"),
    ("Mi padre falleció en el extranjero y queremos repatriar sus restos.", "death abroad"),
])
def test_someone_in_trouble_abroad(text: str, reason: str) -> None:
    assert urgency(text) == Urgency("abroad", reason)


def test_abroad_needs_the_event_and_the_place_in_one_sentence() -> None:
    text = "My father died in 2019. I now live abroad and need to renew my passport by mail."
    assert urgency(text) is None


def test_abroad_comes_before_travel() -> None:
    text = "My mother was hospitalised overseas and I need my passport to fly to her tomorrow."
    assert urgency(text) == Urgency("abroad", "hospitalised abroad")
    no_abroad = UrgencyRules(enabled=("travel", "eviction", "benefits", "deadline"))
    found = urgency(text, rules=no_abroad)
    assert found is not None and found.kind == "travel"


@pytest.mark.parametrize(("text", "reason"), [
    ("Hello,\n\nMy landlord filed for eviction and the court hearing is on December 1. I have two children and "
     "nowhere to go.\n\nThanks,\nDana", "eviction on December 1, 2026 (in 11 days)"),
    ("We got an eviction notice; we must be out by 12/15.", "eviction on December 15, 2026 (in 25 days)"),
    ("The bank says the foreclosure sale of our home is set for December 10, 2026.",
     "foreclosure on December 10, 2026 (in 20 days)"),
    ("I received an eviction notice and the sheriff comes tomorrow!", "eviction on November 21, 2026 (tomorrow)"),
    ("I got an eviction notice this week and I do not know what to do.", "eviction this week (by November 22, 2026)"),
    ("Hola. Recibí una orden de desalojo. Tenemos que salir el 1 de diciembre y no tenemos adónde ir.",
     "eviction on December 1, 2026 (in 11 days)"),
    ("Nos quieren desalojar la próxima semana.", "eviction next week (by November 29, 2026)"),
])
def test_eviction_with_a_near_date(text: str, reason: str) -> None:
    assert urgency(text) == Urgency("eviction", reason)


def test_eviction_window_and_undated_eviction() -> None:
    assert urgency("My eviction hearing is on December 20.") == Urgency(
        "eviction", "eviction on December 20, 2026 (in 30 days)")
    assert urgency("My eviction hearing is on December 21.") is None
    assert urgency("I was evicted in 2023 and now I need help with my housing voucher.") is None


@pytest.mark.parametrize("text", [
    "Dear Representative, my Social Security benefits stopped in October and I cannot pay my rent.",
    "My disability payments stopped without any letter from the agency.",
    "They cut off my benefits after I moved to a new apartment.",
    "I lost my SNAP benefits last month and have three kids to feed.",
    "The VA suspended my payments and nobody answers the phone.",
    "Social Security stopped paying me in September.",
    "Buenos días, no tengo beneficios desde agosto y no sé por qué.",
    "Me quitaron los beneficios sin ninguna explicación.",
    "Suspendieron mis pagos del seguro social el mes pasado.",
    "Ya no recibo mis cheques de incapacidad.",
])
def test_loss_of_benefits(text: str) -> None:
    assert urgency(text) == Urgency("benefits", "loss of benefits")


@pytest.mark.parametrize("text", [
    "My benefits were not stopped, I only want to know why the amount changed.",
    "They did not cut off my benefits, but the letter confused me.",
    "The agency didn't suspend my payments; I just want a copy of my award letter.",
    "No me quitaron los beneficios, solo quiero saber cuándo llega la carta.",
    "I would like to apply for Social Security benefits for my mother.",
])
def test_benefits_without_a_loss(text: str) -> None:
    assert urgency(text) is None


def test_deadline() -> None:
    text = "Hi, the VA gave me a deadline to send my medical records: November 25. They never got my fax."
    assert urgency(text) == Urgency("deadline", "deadline on November 25, 2026 (in 5 days)")
    assert urgency("La fecha límite para mi apelación es el 24 de noviembre.") == Urgency(
        "deadline", "deadline on November 24, 2026 (in 4 days)")
    assert urgency("The deadline for my appeal is December 1.") is None  # 11 days, beyond the 7
    assert urgency("The deadline for my appeal is December 1.", rules=UrgencyRules(deadline_days=11)) is not None


def test_a_newsletter_deadline_without_a_date_is_not_urgent() -> None:
    newsletter = ("COMMUNITY NEWSLETTER - FALL EDITION\n\nDon't miss the deadline for the scholarship program! "
                  "Applications are open to all high-school seniors in the district. Due date details on our "
                  "website.\n\nUnsubscribe | Privacy")
    assert urgency(newsletter, "Newsletter") is None


def test_only_enabled_kinds_are_checked() -> None:
    travel = TRAVEL_EN.format(when="leaves tomorrow")
    assert urgency(travel, rules=UrgencyRules(enabled=("abroad", "eviction"))) is None
    assert urgency(travel, rules=UrgencyRules(enabled=())) is None
    assert urgency("They cut off my benefits.", rules=UrgencyRules(enabled=("benefits",))) is not None
    assert urgency("They cut off my benefits.", rules=UrgencyRules(enabled=("travel",))) is None


def test_received_may_be_a_datetime() -> None:
    received = datetime(2026, 11, 20, 23, 59)
    assert urgency(TRAVEL_EN.format(when="leaves tomorrow"), received=received) == urgency(
        TRAVEL_EN.format(when="leaves tomorrow"))


def test_from_table() -> None:
    assert UrgencyRules.from_table({}) == UrgencyRules()
    rules = UrgencyRules.from_table({"travel_days": 10, "life_or_death_hours": 48, "eviction_days": 21,
                                     "deadline_days": 3, "enabled": ["travel", "benefits"]})
    assert rules == UrgencyRules(10, 48, 21, 3, ("travel", "benefits"))


@pytest.mark.parametrize(("table", "key"), [
    ({"travel_dayz": 10}, "travel_dayz"),
    ({"travel_days": "14"}, "travel_days"),
    ({"travel_days": 14.0}, "travel_days"),
    ({"eviction_days": True}, "eviction_days"),
    ({"deadline_days": -1}, "deadline_days"),
    ({"enabled": "travel"}, "enabled"),
    ({"enabled": ["travel", "weather"]}, "enabled"),
    ({"enabled": [1]}, "enabled"),
])
def test_from_table_names_the_bad_key(table: dict[str, object], key: str) -> None:
    with pytest.raises(ValueError, match=rf"\b{key}\b"):
        UrgencyRules.from_table(table)


def test_pre_check_turns_away_long_mail_without_trigger_words() -> None:
    paragraph = ("Dear Congresswoman, our neighbourhood association invites you to the holiday parade on "
                 "December 3. The high school band will play and the mayor will speak tomorrow at noon. ")
    long = (paragraph * 60)[:10240]
    assert len(long) == 10240
    assert TRIGGERS.match(long.lower()) is None
    assert urgency(long, "Invitation") is None
    # ... and is not merely blind: one trigger word at the very end is found.
    assert TRIGGERS.match((long + " passport").lower()) is not None
    assert urgency(long + "\n\nP.S. My passport has not come and my flight leaves tomorrow.", "Invitation") == \
        Urgency("travel", "passport: travel on November 21, 2026 (tomorrow, within 72 hours)")


def test_trigger_words_are_found_in_any_case_and_spelling() -> None:
    for word in ("PASSPORT", "Pasaporte", "murió", unicodedata.normalize("NFD", "falleció"), "Social\nSecurity",
                 "fecha límite", "desahucio", "Foreclosure", "beneficios"):
        assert TRIGGERS.match(f"Hello, about the {word}.".lower()) is not None, word
    assert TRIGGERS.match("possible mission expensive".lower()) is None  # not inside words
