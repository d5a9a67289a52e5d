"""The composition root picks the AWS runtime when HUB_TABLE is set (moto stands in for AWS)."""

from __future__ import annotations

import json

import boto3
import pytest

from chalicelib import names
from chalicelib.bootstrap import get_hub, reset_hub
from devtools import payloads
from devtools.signing import stripe_headers
from tests.adapters.test_aws_runtime import TABLE
from tests.conftest import SECRETS


@pytest.fixture
def aws(moto, monkeypatch):
    """moto's AWS (the shared fixture) with the queues and table of the dev stage's names."""
    from chalicelib.plumbing.aws import create_resources

    monkeypatch.setenv("HUB_STAGE", "dev")
    create_resources(names.prefix("dev"), TABLE)
    monkeypatch.setenv("HUB_TABLE", TABLE)
    reset_hub()
    yield


def test_webhooks_are_queued_once_on_sqs_with_dynamodb_idempotency(client, aws):
    body = payloads.stripe_invoice_paid("evt_aws", "in_aws", "a@example.com", "cus_a", "price_super_monthly")
    headers = stripe_headers(body, SECRETS["STRIPE_WEBHOOK_SECRET"])
    assert json.loads(client.http.post("/webhooks/stripe", body=body, headers=headers).body)["duplicate"] is False
    assert json.loads(client.http.post("/webhooks/stripe", body=body, headers=headers).body)["duplicate"] is True

    assert type(get_hub().queue).__name__ == "SqsQueue"
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName="chocohub-dev-payments")["QueueUrl"]
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
    assert [json.loads(m["Body"])["event_id"] for m in messages] == ["stripe:evt_aws"]


def test_in_lambda_without_a_table_the_hub_refuses_to_start(client, monkeypatch):
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "chocohub-dev")
    reset_hub()
    response = client.http.get("/health")
    assert response.status_code == 503
    assert "HUB_TABLE" in json.loads(response.body)["error"]


def test_a_partial_batch_failure_in_lambda_loses_nothing(client, aws):
    """Chalice sets no ReportBatchItemFailures: the consumer deletes what succeeded and
    fails the invocation, so Lambda gives back only the failed record."""
    from chalicelib.runtime.consumer import BatchItemsFailed

    hub = get_hub()
    poison = {
        "kind": "invoice_paid",
        "event_id": "stripe:evt_p",
        "invoice_id": "in_p",
        "email": "p@example.com",
        "price_ids": ["price_unknown"],
    }
    waiting = {
        "kind": "invoice_paid",
        "event_id": "stripe:evt_w",
        "invoice_id": "in_w",
        "email": "",
        "stripe_customer": "cus_not_yet_known",
        "price_ids": ["price_super_monthly"],
    }
    hub.queue.send("payments", poison, dedupe_id="p")
    hub.queue.send("payments", waiting, dedupe_id="w")
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName="chocohub-dev-payments")["QueueUrl"]
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
    assert len(received) == 2
    arn = "arn:aws:sqs:eu-west-1:123456789012:chocohub-dev-payments"
    event = {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m["Attributes"],
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": arn,
                "awsRegion": "eu-west-1",
            }
            for m in received
        ]
    }
    import app as app_module

    with pytest.raises(BatchItemsFailed):
        app_module.on_payment(event, None)
    [letter] = hub.dead_letters.list()
    assert letter.body["event_id"] == "stripe:evt_p"
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    # The poison record was parked and deleted; the waiting one is hidden for its retry, not lost.
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "1"
    assert attributes["ApproximateNumberOfMessages"] == "0"


def test_the_admin_api_reads_the_history_and_queues_from_dynamodb_and_sqs(client, aws, monkeypatch):
    monkeypatch.setenv("HUB_ADMIN_TOKEN", "aws-admin-token")
    reset_hub()
    bearer = {"Authorization": "Bearer aws-admin-token"}
    body = payloads.stripe_invoice_paid("evt_adm", "in_adm", "Adm@example.com", "cus_adm", "price_super_monthly")
    client.http.post("/webhooks/stripe", body=body, headers=stripe_headers(body, SECRETS["STRIPE_WEBHOOK_SECRET"]))

    assert type(get_hub().history).__name__ == "DynamoHistory"
    [event] = json.loads(client.http.get("/admin/api/events?q=adm@example.com", headers=bearer).body)["events"]
    assert (event["id"], event["who"], event["status"]) == ("stripe:evt_adm", "a***@example.com", "queued")
    story = json.loads(client.http.get("/admin/api/events/stripe:evt_adm", headers=bearer).body)
    assert [s["step"] for s in story["steps"]] == ["received"]
    summary = client.http.get("/admin/api/summary", headers=bearer)
    assert summary.status_code == 200
    queues = json.loads(summary.body)["queues"]
    assert queues["payments"]["depth"] == 1 and queues["payments-dlq"]["depth"] == 0
