"""The packaged deploy template (`make package STAGE=dev` and `STAGE=prod`), read back and
checked property by property, then linted as SAM and as the CloudFormation SAM makes of it."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from chalicelib import names
from chalicelib.parameters import SECRETS
from chalicelib.redelivery import MAX_GIVE_UP_AFTER
from infra import redrive
from infra.template import VISIBILITY_PER_TIMEOUT, consumers
from tests.conftest import SECRETS as TEST_SECRETS
from tests.deploy.conftest import STAGES


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v.get("Type") == kind}


def functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return resources(template, "AWS::Serverless::Function")


def sqs_events(function: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["Properties"] for e in function["Properties"].get("Events", {}).values() if e["Type"] == "SQS"]


def queue_by_name(template: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    return {q["Properties"]["QueueName"]: (k, q) for k, q in resources(template, "AWS::SQS::Queue").items()}


def subscribed_name(event: dict[str, Any]) -> str:
    """The queue name at the end of Chalice's `Fn::Sub` ARN of a subscription."""
    return event["Queue"]["Fn::Sub"].rsplit(":", 1)[-1]


def statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for role in resources(template, "AWS::IAM::Role").values():
        for policy in role["Properties"].get("Policies", []):
            found.extend(policy["PolicyDocument"]["Statement"])
    return found


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def roles_allowed(template: dict[str, Any], action: str) -> list[str]:
    """The roles with a statement that allows `action`."""
    return [
        name
        for name, role in resources(template, "AWS::IAM::Role").items()
        if any(
            action in as_list(s["Action"])
            for p in role["Properties"].get("Policies", [])
            for s in p["PolicyDocument"]["Statement"]
        )
    ]


@pytest.mark.parametrize("stage", STAGES)
def test_every_consumer_reads_its_own_queue_with_a_dead_letter_queue_and_partial_batches(sam, stage):
    template = sam[stage]
    by_name = queue_by_name(template)
    consumed = []
    for logical_id, function in functions(template).items():
        for event in sqs_events(function):
            name = subscribed_name(event)
            consumed.append(names.logical(name))
            assert name.startswith(f"chocohub-{stage}-")
            queue_id, queue = by_name[name]
            # The queue exists before the subscription (a dict merged into Chalice's Fn::Sub breaks it).
            assert queue_id in as_list(template["Resources"][logical_id]["DependsOn"])
            assert event["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
            dlq_id = queue["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
            assert template["Resources"][dlq_id]["Properties"]["QueueName"] == name + names.DLQ_SUFFIX
            timeout = function["Properties"]["Timeout"]
            assert queue["Properties"]["VisibilityTimeout"] >= 6 * timeout
            assert queue["Properties"]["VisibilityTimeout"] == VISIBILITY_PER_TIMEOUT * timeout
            assert function["Properties"]["Environment"]["Variables"]["HUB_BATCH_FAILURES"] == "report"
    assert sorted(consumed) == sorted(consumers().values())
    assert sorted(consumed) == sorted(names.QUEUES)


@pytest.mark.parametrize("stage", STAGES)
def test_the_redrive_backstop_never_fires_before_the_consumer_gives_up(sam, stage):
    for name, (_, queue) in queue_by_name(sam[stage]).items():
        props = queue["Properties"]
        if name.endswith(names.DLQ_SUFFIX):
            assert props["MessageRetentionPeriod"] >= redrive.QUEUE_RETENTION
            continue
        # SQS's redrive parks a message only after more deliveries than the policy can fail.
        assert props["RedrivePolicy"]["maxReceiveCount"] > redrive.most_deliveries(MAX_GIVE_UP_AFTER)
        # A message is kept for longer than it may be retried.
        assert props["MessageRetentionPeriod"] >= redrive.longest_retry_window(props["VisibilityTimeout"])


def test_the_sheets_consumers_are_capped_and_gather_their_batches(sam):
    from app import SHEET_BATCH, SHEET_CONSUMERS, SHEET_WINDOW

    events = {names.logical(subscribed_name(e)): e for f in functions(sam["prod"]).values() for e in sqs_events(f)}
    for queue in ("signups", "payments", "mail"):  # each batch reads the sheet once
        assert events[queue]["ScalingConfig"]["MaximumConcurrency"] == SHEET_CONSUMERS
        assert events[queue]["MaximumBatchingWindowInSeconds"] == SHEET_WINDOW >= 1
        assert events[queue]["BatchSize"] == SHEET_BATCH > 10  # Lambda wants a window of >= 1 s for that
    assert "ScalingConfig" not in events["slack"] and not events["slack"].get("MaximumBatchingWindowInSeconds")


@pytest.mark.parametrize("stage", STAGES)
def test_the_table_is_on_demand_with_ttl_and_point_in_time_recovery(sam, stage):
    [(_, table)] = resources(sam[stage], "AWS::DynamoDB::Table").items()
    props = table["Properties"]
    assert props["TableName"] == names.table(stage)
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    # The attribute the door, the mail log and the dead-letter records write their expiry to.
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    for function in functions(sam[stage]).values():
        assert function["Properties"]["Environment"]["Variables"]["HUB_TABLE"] == {"Ref": "Table"}


@pytest.mark.parametrize("stage", STAGES)
def test_iam_is_least_privilege(sam, stage):
    template = sam[stage]
    for statement in statements(template):
        actions = as_list(statement["Action"])
        assert all("*" not in action for action in actions), statement
        for action in actions:
            service = action.split(":")[0]
            if service in ("sqs", "dynamodb", "ssm"):
                assert "*" not in as_list(statement["Resource"]), statement
    # Each function has a role of its own; Chalice's shared role keeps no permission.
    roles = [f["Properties"]["Role"]["Fn::GetAtt"][0] for f in functions(template).values()]
    assert len(set(roles)) == len(roles) and "DefaultRole" not in roles
    assert template["Resources"]["DefaultRole"]["Properties"]["Policies"] == []
    # Only the mail consumer may send email, only the API (the dashboard's queue ages) reads
    # CloudWatch metrics; SSM reads stay under the stage's path.
    assert roles_allowed(template, "ses:SendRawEmail") == ["OnMailRole"]
    assert roles_allowed(template, "cloudwatch:GetMetricData") == ["APIHandlerRole"]
    ssm = [s for s in statements(template) if any(a.startswith("ssm:") for a in as_list(s["Action"]))]
    assert ssm and all(f"parameter/chocohub/{stage}" in r["Fn::Sub"] for s in ssm for r in s["Resource"])


@pytest.mark.parametrize("stage", STAGES)
def test_no_secret_in_any_environment(sam, packaged, stage):
    text = (packaged[stage] / "sam.json").read_text()
    for value in TEST_SECRETS.values():
        assert value not in text
    for function in functions(sam[stage]).values():
        assert not set(function["Properties"]["Environment"]["Variables"]) & set(SECRETS)


def test_a_secret_in_a_stage_file_is_refused(tmp_path):
    from infra.package import stage_settings

    good = tmp_path / "good.env"
    good.write_text("# sheet and stock\nGOOGLE_SHEET_ID = abc\nODOO_URL=https://shop.odoo.com\n")
    assert stage_settings("prod", good) == {"GOOGLE_SHEET_ID": "abc", "ODOO_URL": "https://shop.odoo.com"}
    bad = tmp_path / "bad.env"
    bad.write_text("STRIPE_WEBHOOK_SECRET=whsec_x\n")
    with pytest.raises(SystemExit, match="make secrets"):
        stage_settings("prod", bad)


def physical_names(template: dict[str, Any]) -> set[str]:
    keys = ("QueueName", "TableName", "FunctionName", "TopicName", "LogGroupName")
    return {
        value
        for r in template["Resources"].values()
        for key in keys
        if isinstance(value := r.get("Properties", {}).get(key), str)
    }


@pytest.mark.parametrize("stage", STAGES)
def test_every_name_carries_app_and_stage(sam, stage):
    found = physical_names(sam[stage])
    assert len(found) >= 4 + 4 + 1 + 6  # queues, dead-letter queues, table, functions
    assert all(f"chocohub-{stage}" in name for name in found), found


def test_dev_and_prod_share_nothing(sam):
    assert not physical_names(sam["dev"]) & physical_names(sam["prod"])


@pytest.mark.parametrize("stage", STAGES)
def test_alarms_and_log_retention(sam, stage):
    template = sam[stage]
    alarms = resources(template, "AWS::CloudWatch::Alarm").values()
    watched = {(a["Properties"]["MetricName"], json.dumps(a["Properties"]["Dimensions"])) for a in alarms}
    for queue_id, queue in resources(template, "AWS::SQS::Queue").items():
        dims = json.dumps([{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue_id, "QueueName"]}}])
        is_dlq = "RedrivePolicy" not in queue["Properties"]
        metric = "ApproximateNumberOfMessagesVisible" if is_dlq else "ApproximateAgeOfOldestMessage"
        assert (metric, dims) in watched, queue_id
    for function in functions(template).values():
        name = function["Properties"]["FunctionName"]
        assert ("Errors", json.dumps([{"Name": "FunctionName", "Value": name}])) in watched
    groups = {g["Properties"]["LogGroupName"]: g for g in resources(template, "AWS::Logs::LogGroup").values()}
    for function in functions(template).values():
        assert groups[f"/aws/lambda/{function['Properties']['FunctionName']}"]["Properties"]["RetentionInDays"] > 0


def test_the_api_function_does_not_name_its_own_api(sam):
    """Its own URL would be a circular reference: it reads it from each request instead."""
    env = functions(sam["prod"])["APIHandler"]["Properties"]["Environment"]["Variables"]
    assert "HUB_PUBLIC_URL" not in env
    assert "RestAPI" in json.dumps(functions(sam["prod"])["OnMail"]["Properties"]["Environment"])


def test_boto3_is_left_out_of_the_zip(packaged):
    with zipfile.ZipFile(packaged["prod"] / "deployment.zip") as zf:
        tops = {n.split("/")[0] for n in zf.namelist()}
    assert "app.py" in tops and "chalicelib" in tops
    assert not tops & {"boto3", "botocore", "s3transfer"}


def test_prod_is_dev_with_its_own_names(sam):
    """The stages differ by their names only: what is linted for dev below holds for prod."""
    dev = json.dumps(sam["dev"], sort_keys=True)
    for old, new in (
        ("chocohub-dev", "chocohub-prod"),
        ("/chocohub/dev", "/chocohub/prod"),
        ("chocohub dev:", "chocohub prod:"),
        ("stage=dev", "stage=prod"),
        ('"HUB_STAGE": "dev"', '"HUB_STAGE": "prod"'),
    ):
        dev = dev.replace(old, new)
    assert dev == json.dumps(sam["prod"], sort_keys=True)


def test_cfn_lint_is_clean_on_sam_and_on_the_translated_template(packaged, tmp_path):
    """cfn-lint on what Chalice wrote (SAM) and on the plain CloudFormation that the SAM
    transform makes of it, where a circular reference (E3004) would show."""
    from infra.translate import translate

    sam_file = packaged["dev"] / "sam.json"
    translated = tmp_path / "dev.cfn.json"
    translated.write_text(json.dumps(translate(json.loads(sam_file.read_text()))))
    lint = Path(sys.executable).parent / "cfn-lint"
    result = subprocess.run([str(lint), str(sam_file), str(translated)], capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_example_stage_file_is_accepted_as_it_is(tmp_path):
    from infra.package import stage_settings
    from infra.template import ROOT

    settings = stage_settings("prod", ROOT / "infra" / "stages" / "prod.env.example")
    assert settings["MAIL_BACKEND"] == "ses" and "HUB_PUBLIC_URL" not in settings


def test_api_gateway_s_own_answers_have_the_hub_s_shape(sam):
    """An unknown path never reaches the app: API Gateway answers it, as `{"error": ...}` JSON."""
    body = sam["prod"]["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]
    assert body["swagger"] == "2.0" and "/webhooks/stripe" in body["paths"]  # Chalice's definition, kept
    responses = body["x-amazon-apigateway-gateway-responses"]
    assert set(responses) == {"DEFAULT_4XX", "DEFAULT_5XX"}
    for response in responses.values():
        template = response["responseTemplates"]["application/json"]
        assert json.loads(template.replace("$context.error.messageString", '"Missing Authentication Token"')) == {
            "error": "Missing Authentication Token"
        }
