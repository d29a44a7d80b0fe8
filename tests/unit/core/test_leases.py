"""Named leases (hub.core.leases), on SQLite and PostgreSQL: one holder at a time, renewal, expiry, release,
and many processes' claims at once on an expired lease of which exactly one wins."""

from __future__ import annotations

import threading
from datetime import timedelta

from hub.core.app import Hub
from hub.core.leases import Holder, claim, holder_of, leases, release

TERM = timedelta(seconds=15)
EXPIRED = timedelta(seconds=-1)  # a term already over: the lease is free for the next claim
NAME = "inbox:imap:hub@127.0.0.1:143/INBOX"


def test_one_holder_at_a_time_until_it_releases(hub: Hub) -> None:
    first, second = Holder(), Holder()
    assert claim(hub.sessions, NAME, first, TERM)
    assert not claim(hub.sessions, NAME, second, TERM)
    assert claim(hub.sessions, NAME, first, TERM), "the holder renews its own lease"
    assert claim(hub.sessions, "inbox:maildir:/elsewhere", second, TERM), "another name is another lease"
    with hub.sessions() as session:
        held = holder_of(session, NAME)
        assert held is not None and (held.holder, held.pid, held.live) == (first.id, first.pid, True)
        assert held.line().startswith(f"held by {first.host} pid {first.pid} since ")
        assert [lease.name for lease in leases(session)] == [NAME, "inbox:maildir:/elsewhere"]

    release(hub.sessions, NAME, second)  # not its lease: nothing changes
    assert not claim(hub.sessions, NAME, second, TERM)
    release(hub.sessions, NAME, first)
    with hub.sessions() as session:
        assert holder_of(session, NAME) is None
    assert claim(hub.sessions, NAME, second, TERM)


def test_an_expired_lease_goes_to_the_next_claim_and_its_old_holder_cannot_renew_it(hub: Hub) -> None:
    dead, alive = Holder(), Holder()
    assert claim(hub.sessions, NAME, dead, EXPIRED)
    with hub.sessions() as session:
        expired = holder_of(session, NAME)
        assert expired is not None and not expired.live and expired.line().startswith("expired, last held by")
    assert claim(hub.sessions, NAME, alive, TERM)
    assert not claim(hub.sessions, NAME, dead, TERM)
    with hub.sessions() as session:
        held = holder_of(session, NAME)
        assert held is not None and held.holder == alive.id and held.live


def test_many_claims_at_once_have_one_winner(hub: Hub) -> None:
    for round_ in range(6):
        name = f"{NAME}#{round_}"
        if round_ % 2:  # an expired row to take over; the other rounds race to INSERT the first row
            assert claim(hub.sessions, name, Holder(), EXPIRED)
        contenders = [Holder() for _ in range(6)]
        start = threading.Barrier(len(contenders))
        won: list[Holder] = []

        def contend(holder: Holder, name: str, start: threading.Barrier, won: list[Holder]) -> None:
            start.wait()
            if claim(hub.sessions, name, holder, TERM):
                won.append(holder)

        threads = [threading.Thread(target=contend, args=(holder, name, start, won)) for holder in contenders]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert len(won) == 1, (round_, len(won))
        with hub.sessions() as session:
            held = holder_of(session, name)
            assert held is not None and held.holder == won[0].id
