"""The `MailLog`, `Locks` and `CustomerClocks` contracts: embedded (SQLite or in
process), AWS (DynamoDB on moto), and the unit tests' fakes."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.domain.precedence import Clock, Stamp
from chalicelib.ports import CustomerClocks, Locks, MailLog

ANN = "ann@example.com"


def _db(tmp_path: Any) -> Any:
    from chalicelib.plumbing.sqlite import Database

    return Database(tmp_path / "hub.sqlite3")


def _table(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue("moto_aws").table)


# --- MailLog ---------------------------------------------------------------------------


def mail_log_sqlite(tmp_path: Any, request: pytest.FixtureRequest) -> MailLog:
    from chalicelib.adapters.mail_log_sqlite import SqliteMailLog

    return SqliteMailLog(_db(tmp_path))


def mail_log_dynamodb(tmp_path: Any, request: pytest.FixtureRequest) -> MailLog:
    from chalicelib.adapters.mail_log_dynamodb import DynamoMailLog

    return DynamoMailLog(_table(request))


def mail_log_fake(tmp_path: Any, request: pytest.FixtureRequest) -> MailLog:
    from tests.unit.port_fakes import FakeMailLog

    return FakeMailLog()


@pytest.fixture(params=[mail_log_sqlite, mail_log_dynamodb, mail_log_fake], ids=["sqlite", "dynamodb", "fake"])
def mail_log(request: pytest.FixtureRequest, tmp_path: Any) -> MailLog:
    return request.param(tmp_path, request)


def test_a_claim_is_taken_once_until_its_lease_ends(mail_log):
    assert mail_log.status(ANN, "newcomer") is None
    assert mail_log.claim(ANN, "newcomer", 60) == "claimed"
    assert mail_log.status(ANN, "newcomer") == "sending"
    assert mail_log.claim(ANN, "newcomer", 60) == "busy"
    assert mail_log.claim("bob@example.com", "newcomer", 60) == "claimed"  # another address is free


def test_a_claim_older_than_its_lease_is_taken_over(mail_log):
    assert mail_log.claim(ANN, "newcomer", 60) == "claimed"
    if hasattr(mail_log, "now"):
        mail_log.now += 61  # the fake's clock
    else:
        import time

        time.sleep(0.01)
    assert mail_log.claim(ANN, "newcomer", 0.001) == "claimed"


def test_a_sent_email_is_never_claimed_again_and_counted_once(mail_log):
    assert mail_log.sent_count() == 0
    mail_log.claim(ANN, "newcomer", 60)
    mail_log.mark(ANN, "newcomer", "sent")
    mail_log.mark(ANN, "newcomer", "sent")  # a redelivery marks again
    assert mail_log.status(ANN, "newcomer") == "sent"
    assert mail_log.claim(ANN, "newcomer", 0.001) == "sent"
    assert mail_log.sent_count() == 1


def test_a_failed_send_may_be_claimed_again(mail_log):
    mail_log.claim(ANN, "newcomer", 60)
    mail_log.mark(ANN, "newcomer", "failed")
    assert mail_log.status(ANN, "newcomer") == "failed"
    assert mail_log.claim(ANN, "newcomer", 60) == "claimed"
    assert mail_log.sent_count() == 0


def test_an_unsubscribe_holds(mail_log):
    assert mail_log.is_suppressed(ANN) is False
    mail_log.suppress(ANN)
    mail_log.suppress(ANN)
    assert mail_log.is_suppressed(ANN) is True
    assert mail_log.is_suppressed("bob@example.com") is False


# --- Locks -------------------------------------------------------------------------------


def locks_local(tmp_path: Any, request: pytest.FixtureRequest) -> Locks:
    from chalicelib.adapters.locks_local import LocalLocks

    return LocalLocks()


def locks_dynamodb(tmp_path: Any, request: pytest.FixtureRequest) -> Locks:
    from chalicelib.adapters.locks_dynamodb import DynamoLocks

    return DynamoLocks(_table(request))


@pytest.fixture(params=[locks_local, locks_dynamodb], ids=["local", "dynamodb"])
def locks(request: pytest.FixtureRequest, tmp_path: Any) -> Locks:
    return request.param(tmp_path, request)


def test_a_lock_is_released_after_its_block_even_when_it_raises(locks):
    with locks.hold("customer:ann"), locks.hold("customer:bob"):  # other keys are independent
        pass
    with pytest.raises(RuntimeError), locks.hold("customer:ann"):
        raise RuntimeError("the row's write failed")
    with locks.hold("customer:ann"):  # taken again at once: nothing was left held
        pass


def test_a_held_lock_is_not_given_to_another_holder(locks):
    import threading

    from chalicelib.errors import TransientError

    got: list[str] = []

    def other() -> None:
        try:
            with locks.hold("customer:ann"):
                got.append("taken")
        except TransientError:
            got.append("busy")

    with locks.hold("customer:ann"):
        thread = threading.Thread(target=other)
        thread.start()
        thread.join(0.3)
        assert got in ([], ["busy"])  # it waits (in process) or is told to retry (across Lambdas)
    thread.join(5)
    assert got in (["taken"], ["busy"])


# --- CustomerClocks ------------------------------------------------------------------------


def clocks_sqlite(tmp_path: Any, request: pytest.FixtureRequest) -> CustomerClocks:
    from chalicelib.adapters.clocks_sqlite import SqliteClocks

    return SqliteClocks(_db(tmp_path))


def clocks_dynamodb(tmp_path: Any, request: pytest.FixtureRequest) -> CustomerClocks:
    from chalicelib.adapters.clocks_dynamodb import DynamoClocks

    return DynamoClocks(_table(request))


def clocks_fake(tmp_path: Any, request: pytest.FixtureRequest) -> CustomerClocks:
    from tests.unit.port_fakes import FakeClocks

    return FakeClocks()


@pytest.fixture(params=[clocks_sqlite, clocks_dynamodb, clocks_fake], ids=["sqlite", "dynamodb", "fake"])
def clocks(request: pytest.FixtureRequest, tmp_path: Any) -> CustomerClocks:
    return request.param(tmp_path, request)


def test_a_clock_reads_back_as_stored(clocks):
    assert clocks.get(ANN) == Clock()
    clock = Clock(status=Stamp(1_750_000_000, event_id="evt_1"), unsubscribed=1_750_000_100)
    clocks.put(ANN, clock)
    assert clocks.get(ANN) == clock
    assert clocks.get("bob@example.com") == Clock()
    newer = Clock(status=Stamp(1_750_000_500, event_id="evt_2"), order=Stamp(1_750_000_500, event_id="evt_2"))
    clocks.put(ANN, newer)
    assert clocks.get(ANN) == newer
