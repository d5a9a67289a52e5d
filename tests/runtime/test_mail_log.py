"""Both mail logs claim an email atomically, and let a dead holder's claim expire."""

from __future__ import annotations

import time

import pytest

from chalicelib.adapters.mail_log_sqlite import SqliteMailLog
from chalicelib.plumbing.sqlite import Database
from tests.adapters.test_aws_runtime import TABLE, aws  # noqa: F401 - the moto fixture


@pytest.fixture(params=["sqlite", "dynamodb"])
def log(request, tmp_path):
    if request.param == "sqlite":
        return SqliteMailLog(Database(tmp_path / "hub.sqlite3"))
    request.getfixturevalue("aws")
    from chalicelib.adapters.mail_log_dynamodb import DynamoMailLog

    return DynamoMailLog(TABLE)


def test_one_claim_wins_until_sent(log):
    assert log.claim("a@x.co", "newcomer", 60) == "claimed"
    assert log.claim("a@x.co", "newcomer", 60) == "busy"
    log.mark("a@x.co", "newcomer", "sent")
    assert log.claim("a@x.co", "newcomer", 60) == "sent"
    assert log.claim("b@x.co", "newcomer", 60) == "claimed"


def test_a_failed_send_or_an_expired_claim_can_be_claimed_again(log):
    log.claim("a@x.co", "newcomer", 60)
    log.mark("a@x.co", "newcomer", "failed")
    assert log.claim("a@x.co", "newcomer", 60) == "claimed"
    time.sleep(0.05)
    assert log.claim("a@x.co", "newcomer", 0.01) == "claimed"  # its holder died: lease over


def test_a_handover_holds_like_a_claim_and_once_its_holder_is_dead_counts_as_sent(log):
    log.claim("a@x.co", "newcomer", 60)
    log.mark("a@x.co", "newcomer", "handing")  # the server had the whole message
    assert log.claim("a@x.co", "newcomer", 60) == "busy"
    time.sleep(0.05)
    assert log.claim("a@x.co", "newcomer", 0.01) == "sent"  # killed before the answer: never again
    assert log.status("a@x.co", "newcomer") == "sent"
    assert log.sent_count() == 1
