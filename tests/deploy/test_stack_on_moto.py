"""The packaged dev stage deployed as a CloudFormation stack on moto's server, then the
hub's own AWS code pointed at the stack's resources.

What moto cannot do, and this test therefore leaves out or stands in for:
- it does not run the SAM transform: the template is translated here, offline, by
  `samtranslator` (what CloudFormation runs in AWS);
- it cannot create the REST API from Chalice's Swagger 2 definition (PutRestApi wants
  OpenAPI 3): the API resources are removed from this one stack, and the consumers'
  `HUB_PUBLIC_URL`, which names the API, is replaced by a literal;
- it cannot run Lambdas (no container engine): the route handler runs in-process through
  `chalice.test.Client`, and the consumer is invoked here with the messages received from
  the stack's queue, as the event source mapping would.
Everything else (roles, functions, event source mappings, queues with their redrive,
the table, the alarms, log groups) is created by moto's CloudFormation from the template.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from chalicelib import names
from devtools import payloads
from devtools.signing import stripe_headers
from infra.deploy import deploy_stack, upload
from infra.translate import translate
from tests.adapters.test_aws_runtime import lambda_sqs_event
from tests.conftest import ROOT

# moto's CloudFormation skips the alarms (it has no CloudWatch alarm resource): it says so in a warning.
pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS..CloudWatch..Alarm")
REGION = "eu-west-1"
STAGE = "dev"
SSM_STRIPE_SECRET = "whsec_from_ssm_never_logged_0f3c"
SSM_HUB_KEY = "hub-key-from-ssm-never-logged-91ab"
API_RESOURCES = (
    "AWS::ApiGateway::RestApi",
    "AWS::ApiGateway::Deployment",
    "AWS::ApiGateway::Stage",
)


def without_api(template: dict[str, Any]) -> dict[str, Any]:
    """The translated template minus what moto cannot create (see the module's docstring)."""
    resources = template["Resources"]
    api = {k for k, v in resources.items() if v["Type"] in API_RESOURCES}
    api |= {
        k for k, v in resources.items() if any(a in json.dumps(v) for a in api) and v["Type"].endswith("Permission")
    }
    for key in api:
        del resources[key]
    for resource in resources.values():
        variables = resource.get("Properties", {}).get("Environment", {}).get("Variables", {})
        if "RestAPI" in json.dumps(variables.get("HUB_PUBLIC_URL", "")):
            variables["HUB_PUBLIC_URL"] = "https://hub.example.com/api"
    template["Outputs"] = {k: v for k, v in template["Outputs"].items() if not any(a in json.dumps(v) for a in api)}
    assert "RestAPI" not in json.dumps(template), "an API reference is left"
    return template


@pytest.fixture(scope="module")
def moto_server():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def point_at(mp: pytest.MonkeyPatch, endpoint: str) -> None:
    """boto3 (and so the hub) talks to moto's server, with test credentials only."""
    for name, value in {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        mp.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        mp.delenv(name, raising=False)


@pytest.fixture(scope="module")
def deployed(moto_server, packaged):
    """The dev stage's stack on moto's server, created once; yields its outputs."""
    with pytest.MonkeyPatch.context() as mp:
        point_at(mp, moto_server)
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="artifacts", CreateBucketConfiguration={"LocationConstraint": REGION})
        key = upload(s3, "artifacts", packaged[STAGE] / "deployment.zip")
        sam = json.loads((packaged[STAGE] / "sam.json").read_text())
        template = without_api(translate(sam, region=REGION, bucket="artifacts", key=key))
        outputs = deploy_stack(boto3.client("cloudformation"), f"chocohub-{STAGE}", template, poll=0.1)
        # `make deploy` again with nothing changed is an update that changes nothing, not an error.
        assert deploy_stack(boto3.client("cloudformation"), f"chocohub-{STAGE}", template, poll=0.1) == outputs
        yield outputs


@pytest.fixture
def stack(deployed, moto_server, monkeypatch, hub_env):
    """The stack's outputs, with this test's environment pointed at it; the hub's secrets
    come from SSM only."""
    point_at(monkeypatch, moto_server)
    for name in ("STRIPE_WEBHOOK_SECRET", "HUB_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    return deployed


def queue_url(name: str) -> str:
    return boto3.client("sqs").get_queue_url(QueueName=name)["QueueUrl"]


def receive(name: str) -> list[dict[str, Any]]:
    return (
        boto3.client("sqs")
        .receive_message(
            QueueUrl=queue_url(name), MaxNumberOfMessages=10, AttributeNames=["All"], MessageAttributeNames=["All"]
        )
        .get("Messages", [])
    )


def test_the_stack_is_created_with_what_the_hub_needs(stack):
    assert stack["Table"] == names.table(STAGE)
    cfn = boto3.client("cloudformation")
    created = cfn.describe_stack_resources(StackName=f"chocohub-{STAGE}")["StackResources"]
    assert {r["ResourceStatus"] for r in created} <= {"CREATE_COMPLETE", "UPDATE_COMPLETE"}
    kinds = {r.get("ResourceType") for r in created}
    assert {
        "AWS::SQS::Queue",
        "AWS::DynamoDB::Table",
        "AWS::Lambda::Function",
        "AWS::Lambda::EventSourceMapping",
    } <= kinds
    sqs = boto3.client("sqs")
    for queue in names.QUEUES:
        name = names.queue(STAGE, queue)
        attrs = sqs.get_queue_attributes(QueueUrl=queue_url(name), AttributeNames=["All"])["Attributes"]
        redrive = json.loads(attrs["RedrivePolicy"])
        assert redrive["deadLetterTargetArn"].endswith(f":{name}{names.DLQ_SUFFIX}")
    mappings = boto3.client("lambda").list_event_source_mappings()["EventSourceMappings"]
    assert sorted(m["EventSourceArn"].rsplit(":", 1)[-1] for m in mappings) == sorted(
        names.queue(STAGE, q) for q in names.QUEUES
    )
    for mapping in mappings:
        assert mapping.get("FunctionResponseTypes") == ["ReportBatchItemFailures"], mapping


def test_webhook_to_queue_to_order_to_dead_letters_on_the_stack(stack, monkeypatch, capsys, caplog):
    from chalice.test import Client

    import app as app_module
    from chalicelib.bootstrap import get_hub

    boto3.client("ssm").put_parameter(
        Name=f"{names.parameter_path(STAGE)}STRIPE_WEBHOOK_SECRET", Value=SSM_STRIPE_SECRET, Type="SecureString"
    )
    boto3.client("ssm").put_parameter(
        Name=f"{names.parameter_path(STAGE)}HUB_SECRET_KEY", Value=SSM_HUB_KEY, Type="SecureString"
    )
    monkeypatch.setenv("HUB_TABLE", stack["Table"])
    payments = names.queue(STAGE, "payments")

    with Client(app_module.app, project_dir=str(ROOT), stage_name=STAGE) as client:
        body = payloads.stripe_invoice_paid("evt_moto", "in_moto", "ann@example.com", "cus_a", "price_super_monthly")
        headers = stripe_headers(body, SSM_STRIPE_SECRET)  # only SSM holds this secret
        first = client.http.post("/webhooks/stripe", body=body, headers=headers)
        assert first.status_code == 200, first.body
        assert json.loads(first.body)["duplicate"] is False
        # The same delivery again: the stack's table refuses it.
        assert json.loads(client.http.post("/webhooks/stripe", body=body, headers=headers).body)["duplicate"] is True

        [message] = receive(payments)
        assert json.loads(message["Body"])["event_id"] == "stripe:evt_moto"
        hub = get_hub()
        assert hub.settings.stripe_webhook_secret == SSM_STRIPE_SECRET
        assert app_module.on_payment(lambda_sqs_event(payments, [message]), None) == {"batchItemFailures": []}
        assert [o["client_order_ref"] for o in hub.stock.orders()] == ["in_moto"]

        poison = payloads.stripe_invoice_paid("evt_bad", "in_bad", "bob@example.com", "cus_b", "price_unknown")
        assert client.http.post("/webhooks/stripe", body=poison, headers=stripe_headers(poison, SSM_STRIPE_SECRET))
        [bad] = receive(payments)
        app_module.on_payment(lambda_sqs_event(payments, [bad]), None)
        [letter] = receive(payments + names.DLQ_SUFFIX)
        assert json.loads(letter["Body"])["event_id"] == "stripe:evt_bad"
        assert "price_unknown" in letter["MessageAttributes"]["reason"]["StringValue"]
        assert receive(payments) == []

    logged = capsys.readouterr().out + capsys.readouterr().err + caplog.text
    assert logged, "the hub logged nothing: this check would prove nothing"
    assert SSM_STRIPE_SECRET not in logged and SSM_HUB_KEY not in logged


def test_with_the_template_s_mapping_a_failure_is_reported_not_raised(stack, monkeypatch):
    """The template's mappings report batch item failures and set HUB_BATCH_FAILURES=report:
    the consumer then answers Lambda with the failed record instead of failing the batch
    (which would count as a function error and slow the pollers down)."""
    import app as app_module
    from chalicelib.bootstrap import get_hub, reset_hub

    for name, value in (("HUB_TABLE", stack["Table"]), ("HUB_BATCH_FAILURES", "report"), ("HUB_STAGE", STAGE)):
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("HUB_SECRET_KEY", "hub-test-secret-key")
    reset_hub()
    payments = names.queue(STAGE, "payments")
    # A payment of a customer the hub has not met yet: it waits (a transient failure).
    waiting = {
        "kind": "invoice_paid",
        "event_id": "stripe:evt_wait",
        "invoice_id": "in_wait",
        "email": "",
        "stripe_customer": "cus_not_yet_known",
        "price_ids": ["price_super_monthly"],
    }
    get_hub().queue.send("payments", waiting, dedupe_id="wait")
    [message] = receive(payments)
    answer = app_module.on_payment(lambda_sqs_event(payments, [message]), None)
    assert answer == {"batchItemFailures": [{"itemIdentifier": message["MessageId"]}]}
