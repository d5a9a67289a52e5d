"""A batch of events shares one unit of work on the sheet; each event's failure stays its own."""

from __future__ import annotations

from chalicelib import flows, queues
from chalicelib.domain import events as ev
from chalicelib.errors import PermanentError, TransientError
from tests.unit.port_fakes import World
from tests.unit.test_flows import checkout, invoice, signup


def test_ten_sign_ups_open_the_sheet_once_and_write_ten_rows():
    w = World()
    events = [signup(email=f"c{i}@example.com", uid=str(i)) for i in range(10)]

    assert flows.handle_batch(events, w.ports) == [None] * 10

    assert w.sheet.calls.count("edit") == 1 and w.sheet.calls.count("get") == 0
    assert [c.email for c in w.sheet.rows] == [f"c{i}@example.com" for i in range(10)]
    assert len(w.queue.waiting(queues.MAIL)) == 10  # each consenting newcomer owes one email


def test_a_bad_event_fails_alone():
    w = World()
    events = [signup(email="ok@example.com", uid="1"), signup(email="not-an-email", uid="2"), checkout()]

    failures = flows.handle_batch(events, w.ports)

    assert failures[0] is None and failures[2] is None
    assert isinstance(failures[1], PermanentError)
    assert {c.email for c in w.sheet.rows} == {"ok@example.com", "ann@example.com"}


def test_a_sheet_failure_fails_the_customer_events_and_writes_nothing():
    w = World()
    w.sheet.fail_next("commit")
    note = ev.Notification("notify:x", text="hello")

    failures = flows.handle_batch([signup(uid="1"), invoice(), note], w.ports)

    assert isinstance(failures[0], TransientError) and failures[0] is failures[1]
    assert failures[2] is None  # the Slack message went on
    assert w.sheet.rows == [] and w.stock.orders == []
    assert w.queue.waiting(queues.MAIL) == []  # no email for a row that was not written


def test_events_of_one_customer_apply_in_batch_order():
    w = World()
    failures = flows.handle_batch([signup(consent=True, uid="1"), checkout(consent=None), invoice()], w.ports)

    assert failures == [None, None, None]
    ann = w.sheet.row("ann@example.com")
    assert (ann.status, ann.stripe_customer, ann.consent) == ("active", "cus_ann", True)
    assert w.sheet.saves == 1  # one row written once, with every change of the batch
    assert len(w.queue.waiting(queues.MAIL)) == 1
    assert [o.ref for o in w.stock.orders] == ["in_1"]


def test_a_follow_up_failure_fails_only_its_event():
    w = World()
    w.stock.fail_next("find_order")

    failures = flows.handle_batch(
        [invoice("in_1"), invoice("in_2", email="bob@example.com", customer="cus_bob")], w.ports
    )

    assert isinstance(failures[0], TransientError) and failures[1] is None
    assert {c.email for c in w.sheet.rows} == {"ann@example.com", "bob@example.com"}  # both rows saved
    assert [o.ref for o in w.stock.orders] == ["in_2"]


def test_an_unsubscribe_creates_no_row():
    w = World()
    assert flows.handle_batch([ev.Unsubscribed("u:1", email="ghost@example.com")], w.ports) == [None]
    assert w.sheet.rows == []
    assert w.mail_log.is_suppressed("ghost@example.com")


def test_follow_ups_run_side_by_side_per_customer_each_customers_in_batch_order():
    """`ports.run_all` gets one task per customer (and one for the other events): run here
    last task first, Ann's two orders still go in batch order, Bob's and the note apart."""
    import dataclasses

    w = World()
    tasks_seen: list[int] = []

    def backwards(tasks) -> None:
        tasks_seen.append(len(tasks))
        for task in reversed(tasks):
            task()

    ports = dataclasses.replace(w.ports, run_all=backwards)
    note = ev.Notification("notify:x", text="hello")
    events = [invoice("in_1"), invoice("in_2", email="bob@example.com", customer="cus_bob"), note, invoice("in_3")]

    assert flows.handle_batch(events, ports) == [None] * 4

    assert tasks_seen == [3]  # Ann, Bob, the note
    assert [o.ref for o in w.stock.orders] == ["in_2", "in_1", "in_3"]
    assert [text for _channel, text, _thread in w.notifier.posts] == ["hello"]
