"""The AWS runtime (SQS queues, dead letters, the door's DynamoDB store, the mail log)
against moto: the real boto3 and Powertools code paths, AWS's own protocol shapes.

Every test runs inside `mock_aws` with fake credentials, a region, and no
`AWS_ENDPOINT_URL` (with it set, moto would not intercept).
"""

from __future__ import annotations

import json
import time
from types import SimpleNamespace
from typing import Any

import pytest

from chalicelib.domain import events as ev
from chalicelib.domain.catalog import Catalog
from chalicelib.errors import ConfigurationError, TransientError
from chalicelib.ports import Ports
from chalicelib.redelivery import (
    MAX_DELAY,
    MAX_GIVE_UP_AFTER,
    MAX_RECEIVE_COUNT,
    QUEUE_RETENTION,
    RedeliveryPolicy,
    most_deliveries,
)
from tests.conftest import AWS_PREFIX as PREFIX
from tests.conftest import AWS_REGION as REGION
from tests.conftest import AWS_TABLE as TABLE
from tests.unit.port_fakes import FakeMailer, FakeNotifier, FakeSheet, FakeStock, build_ports


@pytest.fixture
def aws(moto_aws):
    """What `create_resources` made on moto (the shared `moto_aws` fixture)."""
    return moto_aws.resources


@pytest.fixture
def queue(aws):
    from chalicelib.runtime.aws.queue import SqsQueue

    return SqsQueue(PREFIX)


def dead_letters_on(queue: Any) -> Any:
    from chalicelib.plumbing.aws import AwsClients, HubTable
    from chalicelib.runtime.aws.dead_letters import SqsDeadLetters

    return SqsDeadLetters(queue, HubTable(TABLE, AwsClients(), "the dead letters"))


@pytest.fixture
def letters(queue):
    return dead_letters_on(queue)


@pytest.fixture
def mail_log(aws):
    from chalicelib.adapters.mail_log_dynamodb import DynamoMailLog

    return DynamoMailLog(TABLE)


def sqs() -> Any:
    import boto3

    return boto3.client("sqs", region_name=REGION)


def ddb() -> Any:
    import boto3

    return boto3.client("dynamodb", region_name=REGION)


def url(name: str) -> str:
    return sqs().get_queue_url(QueueName=name)["QueueUrl"]


def receive(name: str, visibility: int = 0, n: int = 10) -> list[dict[str, Any]]:
    """What a consumer would receive now (hidden for `visibility` seconds)."""
    return (
        sqs()
        .receive_message(
            QueueUrl=url(name),
            MaxNumberOfMessages=n,
            VisibilityTimeout=visibility,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
        )
        .get("Messages", [])
    )


def signed_up(event_id: str, email: str, consent: bool = True) -> dict[str, Any]:
    return ev.to_message(ev.SignedUp(event_id=event_id, email=email, name="Ann Lee", consent=consent))


# --- resources and laziness ---------------------------------------------------------


def test_no_client_is_made_before_first_use(monkeypatch):
    from chalicelib.adapters.mail_log_dynamodb import DynamoMailLog
    from chalicelib.runtime.aws.queue import SqsQueue

    # Outside any mock and with no region: construction must not touch boto3 at all.
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    queue, log = SqsQueue(PREFIX), DynamoMailLog(TABLE)
    letters = dead_letters_on(queue)
    for clients in (queue.addresses.clients, letters.table._clients, log.table._clients):
        assert [clients.peek(s) for s in ("sqs", "dynamodb")] == [None, None]


def test_a_table_is_required():
    from chalicelib.adapters.mail_log_dynamodb import DynamoMailLog
    from chalicelib.plumbing.aws import AwsClients, HubTable

    with pytest.raises(ConfigurationError, match="HUB_TABLE"):
        HubTable("", AwsClients(), "the dead letters")
    with pytest.raises(ConfigurationError, match="HUB_TABLE"):
        DynamoMailLog("")


def test_create_resources_is_idempotent_and_sets_redrive_and_ttl(aws):
    from chalicelib.plumbing.aws import create_resources

    again = create_resources(PREFIX, TABLE, visibility_timeout=120)
    assert again["queues"] == aws["queues"]
    assert set(aws["queues"]) == {"signups", "payments", "mail", "slack"}
    attrs = sqs().get_queue_attributes(QueueUrl=url(f"{PREFIX}payments"), AttributeNames=["All"])["Attributes"]
    redrive = json.loads(attrs["RedrivePolicy"])
    # SQS's redrive is only the backstop of the give-up policy: it must never fire first.
    assert int(redrive["maxReceiveCount"]) == MAX_RECEIVE_COUNT >= most_deliveries(MAX_GIVE_UP_AFTER)
    assert redrive["deadLetterTargetArn"].endswith(f":{PREFIX}payments-dlq")
    assert attrs["VisibilityTimeout"] == "120"  # the second run updated it
    assert int(attrs["MessageRetentionPeriod"]) == QUEUE_RETENTION > MAX_GIVE_UP_AFTER + MAX_DELAY
    ttl = ddb().describe_time_to_live(TableName=TABLE)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expiration"}
    key = ddb().describe_table(TableName=TABLE)["Table"]["KeySchema"]
    assert key == [{"AttributeName": "id", "KeyType": "HASH"}]


def test_a_missing_queue_is_a_configuration_error(aws):
    from chalicelib.runtime.aws.queue import SqsQueue

    with pytest.raises(ConfigurationError, match="create_resources"):
        SqsQueue("other-prefix-").send("signups", {"kind": "x"}, "d1")


# --- the Queue port -------------------------------------------------------------------


def test_send_then_receive_round_trip(queue):
    body = signed_up("fs-1", "ann@example.com")
    queue.send("signups", body, dedupe_id="fs-1")
    [message] = receive(f"{PREFIX}signups")
    assert json.loads(message["Body"]) == body
    assert message["MessageAttributes"]["dedupe_id"]["StringValue"] == "fs-1"
    assert receive(f"{PREFIX}payments") == []


def test_queue_urls_are_looked_up_once(queue):
    queue.send("mail", {"kind": "x"}, "a")
    calls = []
    queue._sqs.meta.events.register("before-call.sqs.GetQueueUrl", lambda **kw: calls.append(1))
    queue.send("mail", {"kind": "x"}, "b")
    queue.send(f"{PREFIX}mail", {"kind": "x"}, "c")  # the physical name maps to the same queue
    assert calls == []
    assert len(receive(f"{PREFIX}mail")) == 3


def test_retry_later_changes_the_visibility(queue):
    queue.send("slack", {"kind": "x"}, "n1")
    [first] = receive(f"{PREFIX}slack", visibility=0)  # would be visible again at once
    queue.retry_later(f"{PREFIX}slack", first["ReceiptHandle"], 120)
    assert receive(f"{PREFIX}slack") == []
    queue.retry_later("slack", first["ReceiptHandle"], 0)
    [again] = receive(f"{PREFIX}slack")
    assert again["MessageId"] == first["MessageId"]
    assert again["Attributes"]["ApproximateReceiveCount"] == "2"


def test_retry_later_is_best_effort(queue):
    queue.send("slack", {"kind": "x"}, "n1")
    [message] = receive(f"{PREFIX}slack", visibility=0)
    queue.retry_later("slack", "not-a-receipt", 60)  # a stale receipt does not fail the batch
    queue.retry_later("slack", message["ReceiptHandle"], 10**9)  # capped at SQS's 12 hours
    assert receive(f"{PREFIX}slack") == []


def test_depth_counts_each_queue_and_dead_letter_queue(queue, letters):
    queue.send("payments", {"kind": "x"}, "a")
    queue.send("payments", {"kind": "x"}, "b")
    letters.park("mail", {"kind": "x"}, "bad", "step", message_id="m")
    depth = queue.depth()
    assert depth["payments"] == 2
    assert depth["mail-dlq"] == 1
    assert depth["signups"] == 0


# --- dead letters -----------------------------------------------------------------------


def test_dead_letter_lands_in_the_dlq_with_its_reason_and_step(queue, letters):
    body = {"kind": "invoice_paid", "event_id": "in_1"}
    letters.park(f"{PREFIX}payments", body, "no product BOX-X", "invoice_paid → odoo.create_order", "m-1")
    [message] = receive(f"{PREFIX}payments-dlq")
    attrs = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attrs == {
        "reason": "no product BOX-X",
        "step": "invoice_paid → odoo.create_order",
        "queue": "payments",
        "message_id": "m-1",
    }
    assert json.loads(message["Body"]) == body


def test_dead_letter_is_idempotent_on_the_message_id(queue, letters):
    letters.park("payments", {"kind": "x"}, "bad", "step", message_id="m-1")
    letters.park("payments", {"kind": "x"}, "bad", "step", message_id="m-1")
    assert len(receive(f"{PREFIX}payments-dlq")) == 1


def test_list_replay_and_discard(letters):
    from chalicelib.dead_letters import letter_id

    letters.park("payments", {"kind": "invoice_paid", "event_id": "in_1"}, "bad sku", "s1", message_id="m-1")
    time.sleep(0.002)  # SentTimestamp has millisecond resolution: make the order certain
    letters.park("mail", {"kind": "marketing_due", "event_id": "mail:1"}, "rejected", "s2", message_id="m-2")

    listed = letters.list()
    assert [(d.id, d.queue, d.reason, d.step) for d in listed] == [
        (letter_id("m-1"), "payments", "bad sku", "s1"),
        (letter_id("m-2"), "mail", "rejected", "s2"),
    ]
    assert listed[0].body == {"kind": "invoice_paid", "event_id": "in_1"}
    assert listed[0].failed_at <= listed[1].failed_at <= time.time()
    assert [d.id for d in letters.list()] == [d.id for d in listed]  # listing hides nothing

    first, second = listed
    assert letters.replay(first.id) is True
    [replayed] = receive(f"{PREFIX}payments", visibility=60)
    assert json.loads(replayed["Body"]) == first.body
    assert replayed["MessageAttributes"]["dedupe_id"]["StringValue"] == f"replay:{first.id}"
    assert receive(f"{PREFIX}payments-dlq") == []
    assert letters.replay(first.id) is False
    assert receive(f"{PREFIX}payments") == [], "a second replay queued the letter again"

    assert letters.discard(second.id, "spam trap address") is True
    assert letters.list() == []
    assert receive(f"{PREFIX}mail-dlq") == []
    record = ddb().get_item(TableName=TABLE, Key={"id": {"S": f"deadletter#{second.id}"}})["Item"]
    assert record["state"]["S"] == "discarded"
    assert record["note"]["S"] == "spam trap address"
    assert record["reason"]["S"] == "rejected"
    assert record["event_id"]["S"] == "mail:1"
    assert int(record["expiration"]["N"]) > time.time()
    assert letters.discard(second.id, "again") is False
    assert letters.replay(second.id) is False
    assert letters.replay("000000000000") is False


def park_copy(queue_name: str, body: dict[str, Any], message_id: str) -> None:
    """A copy of a dead letter as `dead_letter` sends it, without its DynamoDB record: what
    a process that died between the send and the record leaves behind."""
    attrs = {"reason": "bad", "step": "s", "queue": queue_name, "message_id": message_id}
    sqs().send_message(
        QueueUrl=url(f"{PREFIX}{queue_name}-dlq"),
        MessageBody=json.dumps(body),
        MessageAttributes={k: {"DataType": "String", "StringValue": v} for k, v in attrs.items()},
    )


def test_copies_of_one_letter_are_listed_once_and_replayed_once(queue, letters):
    body = signed_up("fs-8", "cy@example.com")
    park_copy("signups", body, "m-8")
    letters.park("signups", body, "bad", "s", message_id="m-8")  # the redelivery parks it again
    assert len(receive(f"{PREFIX}signups-dlq")) == 2
    [letter] = letters.list()
    assert letters.replay(letter.id) is True
    assert len(receive(f"{PREFIX}signups", visibility=60)) == 1
    assert receive(f"{PREFIX}signups") == []
    assert receive(f"{PREFIX}signups-dlq") == [], "a copy was left behind"


def test_a_replay_in_progress_blocks_another_until_it_is_stale(queue, letters):
    letters.park("payments", {"kind": "x", "event_id": "in_7"}, "bad", "s", message_id="m-7")
    [letter] = letters.list()
    key = {"id": {"S": f"deadletter#{letter.id}"}}
    ddb().put_item(TableName=TABLE, Item={**key, "state": {"S": "replaying"}, "at": {"N": str(int(time.time()))}})
    assert letters.replay(letter.id) is False
    assert letters.discard(letter.id, "no") is False
    assert [d.id for d in letters.list()] == [letter.id]  # still there, still listed
    ddb().put_item(TableName=TABLE, Item={**key, "state": {"S": "replaying"}, "at": {"N": str(int(time.time()) - 600)}})
    assert letters.replay(letter.id) is True  # the claim of a replay that died is taken over
    assert len(receive(f"{PREFIX}payments")) == 1


def test_two_replays_racing_on_two_copies_queue_the_letter_once(queue, letters):
    """Replay A holds one copy of a letter; before A claims it, replay B (another Lambda)
    takes a second copy and runs to the end. Only the DynamoDB claim stops A sending too."""
    from chalicelib.runtime.aws.queue import SqsQueue

    body = signed_up("fs-9", "bo@example.com")
    letters.park("signups", body, "bad", "s", message_id="m-9")
    [letter] = letters.list()
    other = dead_letters_on(SqsQueue(PREFIX))  # its own clients: the hook below is A's only
    answers: list[bool] = []

    def b_runs_first(**_: Any) -> None:
        if not answers:
            park_copy("signups", body, "m-9")
            answers.append(other.replay(letter.id))

    letters._ddb.meta.events.register("before-call.dynamodb.UpdateItem", b_runs_first)
    answers.append(letters.replay(letter.id))
    assert answers == [True, False]
    assert len(receive(f"{PREFIX}signups", visibility=60)) == 1
    assert receive(f"{PREFIX}signups") == [], "the letter was queued twice"
    assert receive(f"{PREFIX}signups-dlq") == []


def test_a_copy_left_by_a_crashed_replay_is_deleted_not_queued(queue, letters):
    letters.park("signups", {"kind": "x"}, "bad", "s", message_id="m-3")
    [letter] = letters.list()
    # As if a replay had sent the message and died before deleting it from the DLQ.
    ddb().put_item(
        TableName=TABLE, Item={"id": {"S": f"deadletter#{letter.id}"}, "state": {"S": "replayed"}, "at": {"N": "1"}}
    )
    assert letters.list() == []
    assert letters.replay(letter.id) is False
    assert receive(f"{PREFIX}signups") == []
    assert receive(f"{PREFIX}signups-dlq") == []


def test_a_message_moved_by_the_redrive_policy_is_a_dead_letter_too(queue, letters):
    from chalicelib.plumbing.aws import create_resources

    # Make the redrive fire on the second receive rather than the ninth.
    client = sqs()
    dlq_arn = client.get_queue_attributes(QueueUrl=url(f"{PREFIX}slack-dlq"), AttributeNames=["QueueArn"])
    client.set_queue_attributes(
        QueueUrl=url(f"{PREFIX}slack"),
        Attributes={
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn["Attributes"]["QueueArn"], "maxReceiveCount": "1"}
            )
        },
    )
    queue.send("slack", {"kind": "notification", "event_id": "n-1", "text": "hi"}, "n-1")
    receive(f"{PREFIX}slack")
    assert receive(f"{PREFIX}slack") == []  # moved to the DLQ on this receive
    [letter] = letters.list()
    assert letter.queue == "slack"
    assert "moved by SQS" in letter.reason
    assert letters.replay(letter.id) is True
    assert len(receive(f"{PREFIX}slack", visibility=30)) == 1
    create_resources(PREFIX, TABLE)  # and the redrive policy is restored
    policy = client.get_queue_attributes(QueueUrl=url(f"{PREFIX}slack"), AttributeNames=["RedrivePolicy"])
    assert int(json.loads(policy["Attributes"]["RedrivePolicy"])["maxReceiveCount"]) == MAX_RECEIVE_COUNT


# --- the door on DynamoDB --------------------------------------------------------------


def test_the_door_queues_a_delivery_once_with_dynamodb_persistence(queue):
    from chalicelib.runtime.aws.idempotency import door_persistence
    from chalicelib.runtime.door import Door

    door = Door(queue, door_persistence(TABLE))
    event = ev.SignedUp(event_id="fs-42", email="ann@example.com", consent=True)
    assert door.accept("fs-42", [event]) is True
    assert door.accept("fs-42", [event]) is False  # the duplicate is acknowledged, not queued
    [message] = receive(f"{PREFIX}signups", visibility=60)
    assert json.loads(message["Body"]) == ev.to_message(event)
    items = ddb().scan(TableName=TABLE)["Items"]
    [record] = [i for i in items if i["id"]["S"].startswith("door#")]
    assert record["status"]["S"] == "COMPLETED"
    assert int(record["expiration"]["N"]) > time.time() + 6 * 24 * 3600
    # Another delivery is queued as usual.
    assert door.accept("fs-43", [ev.SignedUp(event_id="fs-43", email="bo@example.com")]) is True
    assert len(receive(f"{PREFIX}signups")) == 1


# --- the mail log on DynamoDB -------------------------------------------------------------


def test_mail_log_status_and_marks(mail_log):
    assert mail_log.status("ann@example.com", "BOX-SUPER") is None
    mail_log.mark("ann@example.com", "BOX-SUPER", "sending")
    assert mail_log.status("ann@example.com", "BOX-SUPER") == "sending"
    assert mail_log.sent_count() == 0
    mail_log.mark("ann@example.com", "BOX-SUPER", "sent")
    mail_log.mark("ann@example.com", "BOX-SUPER", "sent")
    assert mail_log.status("ann@example.com", "BOX-SUPER") == "sent"
    assert mail_log.sent_count() == 1, "a repeated mark counted twice"
    mail_log.mark("ann@example.com", "BOX-SUPER", "sending")  # a crashed retry, then sent again
    mail_log.mark("ann@example.com", "BOX-SUPER", "sent")
    assert mail_log.sent_count() == 1
    mail_log.mark("bo@example.com", "BOX-SUPER", "sent")
    mail_log.mark("ann@example.com", "WELCOME", "sent")
    assert mail_log.sent_count() == 3
    assert mail_log.status("bo@example.com", "WELCOME") is None


def test_mail_log_suppressions(mail_log):
    assert mail_log.is_suppressed("ann@example.com") is False
    mail_log.suppress("ann@example.com")
    first = ddb().get_item(TableName=TABLE, Key={"id": {"S": "suppress#ann@example.com"}})["Item"]["at"]
    mail_log.suppress("ann@example.com")
    again = ddb().get_item(TableName=TABLE, Key={"id": {"S": "suppress#ann@example.com"}})["Item"]["at"]
    assert first == again  # the first unsubscribe's time is kept
    assert mail_log.is_suppressed("ann@example.com") is True
    assert mail_log.is_suppressed("bo@example.com") is False
    assert "test-hub-table" in mail_log.ping()


def test_mail_log_without_its_table_says_what_to_fix(aws):
    from chalicelib.adapters.mail_log_dynamodb import DynamoMailLog

    with pytest.raises(ConfigurationError, match="HUB_TABLE"):
        DynamoMailLog("no-such-table").status("ann@example.com", "BOX-SUPER")


# --- the shared consumer on a real SQS batch ------------------------------------------------


class FlakySheet(FakeSheet):
    """The in-memory sheet, down (after its own retries) for one customer's row."""

    def __init__(self, flaky_email: str) -> None:
        super().__init__()
        self.flaky_email = flaky_email

    def get(self, email: str):
        if email == self.flaky_email:
            raise TransientError("sheet: 503 from Google (injected)", retry_after=90)
        return super().get(email)

    def edit(self, emails, stripe_customers=()):
        if self.flaky_email in emails:
            raise TransientError("sheet: 503 from Google (injected)", retry_after=90)
        return super().edit(emails, stripe_customers)


def lambda_sqs_event(name: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The event Lambda's SQS event source mapping builds from received messages."""
    arn = sqs().get_queue_attributes(QueueUrl=url(name), AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m["Attributes"],
                "messageAttributes": {
                    k: {"stringValue": v["StringValue"], "dataType": v["DataType"]}
                    for k, v in m.get("MessageAttributes", {}).items()
                },
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": arn,
                "awsRegion": REGION,
            }
            for m in messages
        ]
    }


def test_the_shared_consumer_on_an_sqs_batch(queue, mail_log, letters):
    from chalice.app import SQSEvent

    from chalicelib.adapters.clocks_dynamodb import DynamoClocks
    from chalicelib.adapters.locks_dynamodb import DynamoLocks
    from chalicelib.runtime.consumer import consume

    sheet = FlakySheet("flaky@example.com")
    ports = Ports(
        sheet=sheet,
        stock=FakeStock(),
        mailer=FakeMailer(),
        notifier=FakeNotifier(),
        queue=queue,
        mail_log=mail_log,
        dead_letters=letters,
        locks=DynamoLocks(TABLE),
        clocks=DynamoClocks(TABLE),
        catalog=Catalog.load(None),
        public_url="https://hub.example.test",
        secret_key="test-secret",
        mail_domain="example.test",
        channel="#orders",
    )
    queue.send("signups", signed_up("fs-ok", "ok@example.com"), "fs-ok")
    queue.send("signups", signed_up("fs-bad", "not-an-email"), "fs-bad")
    # A payment failure for a customer the sheet does not know yet: transient.
    unknown = ev.to_message(ev.PaymentFailed(event_id="fs-flaky", invoice_id="in_1", stripe_customer="cus_new"))
    queue.send("signups", unknown, "fs-flaky")
    # Received with no visibility timeout: only `retry_later` can hide a message now.
    messages = receive(f"{PREFIX}signups", visibility=0)
    assert len(messages) == 3
    by_event = {json.loads(m["Body"])["event_id"]: m for m in messages}
    context = SimpleNamespace(function_name="chocohub-dev-on_signup", get_remaining_time_in_millis=lambda: 60_000)

    result = consume(SQSEvent(lambda_sqs_event(f"{PREFIX}signups", messages), context), ports)

    # The transient failure is reported, and only it.
    assert result == {"batchItemFailures": [{"itemIdentifier": by_event["fs-flaky"]["MessageId"]}]}
    # Lambda deletes what was not reported; the reported one stays hidden for its delay.
    client = sqs()
    for event_id in ("fs-ok", "fs-bad"):
        client.delete_message(QueueUrl=url(f"{PREFIX}signups"), ReceiptHandle=by_event[event_id]["ReceiptHandle"])
    assert receive(f"{PREFIX}signups") == [], "the transient failure was not hidden by retry_later"
    # The permanent failure went to the dead letters, under the logical queue name.
    [letter] = letters.list()
    assert letter.queue == "signups"
    assert letter.body["event_id"] == "fs-bad"
    assert "not an email address" in letter.reason
    assert letter.step == "signed_up"
    # The good one went through: a row in the sheet, and its marketing email queued on SQS.
    assert sheet.row("ok@example.com").consent is True
    [due] = receive(f"{PREFIX}mail")
    assert json.loads(due["Body"])["kind"] == "marketing_due"


def test_an_sqs_message_failing_since_its_first_receive_a_day_ago_is_parked(queue, letters):
    from chalice.app import SQSEvent

    from chalicelib.runtime.consumer import consume

    queue.send("signups", signed_up("fs-flaky", "flaky@example.com"), "fs-flaky")
    [message] = receive(f"{PREFIX}signups", visibility=0)
    first = int(message["Attributes"]["ApproximateFirstReceiveTimestamp"]) / 1000
    ports = build_ports(sheet=FlakySheet("flaky@example.com"))
    ports.queue, ports.dead_letters = queue, letters
    event = SQSEvent(lambda_sqs_event(f"{PREFIX}signups", [message]), None)

    soon = RedeliveryPolicy(clock=lambda: first + 3600)
    assert consume(event, ports, soon)["batchItemFailures"]
    assert letters.list() == []

    later = RedeliveryPolicy(clock=lambda: first + 24 * 3600 + 1)
    assert consume(event, ports, later) == {"batchItemFailures": []}
    [letter] = letters.list()
    assert letter.reason.startswith("gave up after failing for 24")
    assert first <= time.time()


def test_a_customer_lock_is_held_once_and_a_dead_holders_lease_ends(aws, monkeypatch):
    from chalicelib.adapters import locks_dynamodb as locks
    from chalicelib.adapters.locks_dynamodb import DynamoLocks

    first, second = DynamoLocks(TABLE), DynamoLocks(TABLE)
    with first.hold("customer:a@x.co"):
        with pytest.raises(TransientError, match="another delivery"), second.hold("customer:a@x.co"):
            pass
        with second.hold("customer:b@x.co"):
            pass
    with second.hold("customer:a@x.co"):
        pass
    monkeypatch.setattr(locks, "LEASE_SECONDS", -1)  # a holder that died: its lease is over
    with first.hold("customer:c@x.co"), second.hold("customer:c@x.co"):
        pass
