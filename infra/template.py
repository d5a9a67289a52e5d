"""The deploy template's own half: what `chalice package --merge-template` adds to Chalice's.

Chalice makes the functions, the REST API, the schedule and the queue subscriptions;
it makes no queue, dead-letter queue, table, alarm or log group, gives every function
one role that may only receive SQS messages, and never sets `ReportBatchItemFailures`.
This module writes the rest, per stage, from the numbers the code itself uses:

- the queues' visibility timeout is `VISIBILITY_PER_TIMEOUT` × the consumers' Lambda
  timeout, read from `.chalice/config.json` (the one place that timeout is set, for
  `chalice package` and `chalice deploy` alike);
- the redrive policy and the retention come from `infra.redrive`, which
  derives them from the consumer's own dead-lettering rule;
- the names come from `chalicelib.names` (`chocohub-<stage>-signups`, …), so the
  code and the template cannot disagree.

Chalice's template is deep-merged with this one: a dict given here is merged into
Chalice's, a list or a string replaces it. Chalice's subscriptions name their queue with
`Fn::Sub` from the queue's *name*; merging a `Fn::GetAtt` into that dict would break it,
so each consumer gets a `DependsOn` on its queue instead.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from chalicelib import names
from chalicelib.queues import MAIL, SLACK
from infra import redrive

ROOT = Path(__file__).resolve().parent.parent
APP = "chocohub"
# AWS asks for a queue visibility timeout of at least six times its consumer's timeout:
# a message is never handed to a second Lambda while the first may still work on it.
VISIBILITY_PER_TIMEOUT = 6
# Alarms: a dead letter, any function error, a message waiting longer than this.
OLDEST_MESSAGE_ALARM_SECONDS = 3600
LOG_RETENTION_DAYS = 30
# Chalice's names of the function behind the REST API and of its logical resource.
API_FUNCTION = "api_handler"

SES_SEND = ["ses:SendEmail", "ses:SendRawEmail"]
QUEUE_SEND = ["sqs:SendMessage", "sqs:GetQueueUrl", "sqs:GetQueueAttributes"]
QUEUE_CONSUME = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"]
DEAD_LETTER_OPS = [
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:GetQueueAttributes",
    "sqs:GetQueueUrl",
    "sqs:SendMessage",
]
TABLE_ITEMS = [
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:DescribeTable",
]


def cfn_name(name: str) -> str:
    """Chalice's logical resource id of a function name (`on_signup` → `OnSignup`; the
    API's function is `APIHandler`, not `ApiHandler`: see chalice issue 2079)."""
    from chalice.utils import to_cfn_resource_name

    return "APIHandler" if name == API_FUNCTION else to_cfn_resource_name(name)


def chalice_config() -> dict[str, Any]:
    return json.loads((ROOT / ".chalice" / "config.json").read_text(encoding="utf-8"))


def function_setting(config: dict[str, Any], stage: str, function: str, key: str) -> Any:
    """A Chalice setting of one function as Chalice itself resolves it (stage, function, defaults)."""
    from chalice.config import Config

    return getattr(Config(chalice_stage=stage, config_from_disk=config).scope(stage, function), key)


def consumers() -> dict[str, str]:
    """Each `@app.on_sqs_message` function of app.py and its logical queue, from Chalice's registry."""
    from chalice.app import SQSEventConfig

    import app

    return {
        source.name: names.logical(source.queue)
        for source in app.app.event_sources
        if isinstance(source, SQSEventConfig) and source.queue
    }


def scheduled() -> list[str]:
    from chalice.app import ScheduledEventConfig

    import app

    return [source.name for source in app.app.event_sources if isinstance(source, ScheduledEventConfig)]


def _arn(service: str, resource: str) -> dict[str, str]:
    return {"Fn::Sub": f"arn:${{AWS::Partition}}:{service}:${{AWS::Region}}:${{AWS::AccountId}}:{resource}"}


def _queue_id(queue: str) -> str:
    return "Queue" + cfn_name(queue)


def _dlq_id(queue: str) -> str:
    return "DeadLetters" + cfn_name(queue)


def _statement(actions: list[str], resources: list[Any], **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": actions, "Resource": resources, **extra}


class StageTemplate:
    """The merge template of one stage."""

    def __init__(
        self, stage: str, config: dict[str, Any] | None = None, settings: dict[str, str] | None = None
    ) -> None:
        if not names.valid_stage(stage):
            raise ValueError(f"stage {stage!r}: use lower-case letters, digits and dashes (dev, prod, staging-2)")
        self.stage = stage
        self.config = config if config is not None else chalice_config()
        if stage not in self.config.get("stages", {}):
            raise ValueError(
                f"stage {stage!r} is not in .chalice/config.json: add it with"
                f' "environment_variables": {{"HUB_STAGE": "{stage}"}}'
            )
        self.settings = dict(settings or {})
        self.consumers = consumers()
        self.scheduled = scheduled()
        self.resources: dict[str, Any] = {}

    # --- names ---------------------------------------------------------------------

    def name(self, suffix: str) -> str:
        return f"{APP}-{self.stage}-{suffix}"

    def function_name(self, function: str) -> str:
        return self.name(function.replace("_", "-"))

    def timeout(self, function: str) -> int:
        seconds = function_setting(self.config, self.stage, function, "lambda_timeout")
        if not seconds:
            raise ValueError("set lambda_timeout in .chalice/config.json: the queues' visibility is derived from it")
        return int(seconds)

    def api_url(self) -> dict[str, str]:
        """The REST API's base URL with its stage, as CloudFormation will know it."""
        from chalice.config import Config

        api_stage = Config(chalice_stage=self.stage, config_from_disk=self.config).api_gateway_stage
        return {"Fn::Sub": f"https://${{RestAPI}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}/{api_stage}"}

    # --- the template ----------------------------------------------------------------

    def build(self) -> dict[str, Any]:
        self._table()
        self._alarm_topic()
        for function, queue in self.consumers.items():
            self._queues(queue, self.timeout(function))
        for function, queue in self.consumers.items():
            self._consumer(function, queue)
        for function in self.scheduled:
            self._function(function, self._scheduled_policy())
        self._function(API_FUNCTION, self._api_policy())
        self._gateway_responses()
        # Chalice's shared role may receive from any queue: every function has its own
        # role now, so it is left without permissions (a merge can change it, not drop it).
        self.resources["DefaultRole"] = {"Properties": {"Policies": []}}
        return {
            "Resources": self.resources,
            "Outputs": {
                "Table": {"Value": {"Ref": "Table"}},
                "AlarmTopic": {"Value": {"Ref": "AlarmTopic"}},
                "ParameterPath": {"Value": names.parameter_path(self.stage)},
            },
        }

    def _table(self) -> None:
        self.resources["Table"] = {
            "Type": "AWS::DynamoDB::Table",
            "Properties": {
                "TableName": names.table(self.stage),
                "BillingMode": "PAY_PER_REQUEST",
                "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
                "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
                "TimeToLiveSpecification": {"AttributeName": "expiration", "Enabled": True},
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                "SSESpecification": {"SSEEnabled": True},
            },
        }

    def _gateway_responses(self) -> None:
        """API Gateway answers an unknown path or method itself, before the app runs: give
        those answers the hub's shape, `{"error": "..."}`, JSON like every other error.
        Inside the API's own definition (merged into Chalice's), not as separate resources,
        which would drift from an API defined by its body."""
        template = {"application/json": '{"error": $context.error.messageString}'}
        self.resources["RestAPI"] = {
            "Properties": {
                "DefinitionBody": {
                    "x-amazon-apigateway-gateway-responses": {
                        kind: {"responseTemplates": template} for kind in ("DEFAULT_4XX", "DEFAULT_5XX")
                    }
                }
            }
        }

    def _alarm_topic(self) -> None:
        self.resources["AlarmTopic"] = {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": self.name("alarms")}}

    def _queues(self, queue: str, consumer_timeout: int) -> None:
        dlq, main = _dlq_id(queue), _queue_id(queue)
        self.resources[dlq] = {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": names.queue(self.stage, queue) + names.DLQ_SUFFIX,
                "MessageRetentionPeriod": redrive.DEAD_LETTER_RETENTION,
                "SqsManagedSseEnabled": True,
            },
        }
        self.resources[main] = {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": names.queue(self.stage, queue),
                "VisibilityTimeout": VISIBILITY_PER_TIMEOUT * consumer_timeout,
                "MessageRetentionPeriod": redrive.QUEUE_RETENTION,
                "SqsManagedSseEnabled": True,
                "RedrivePolicy": {
                    "deadLetterTargetArn": {"Fn::GetAtt": [dlq, "Arn"]},
                    "maxReceiveCount": redrive.MAX_RECEIVE_COUNT,
                },
            },
        }
        self._alarm(
            f"{dlq}Alarm",
            f"a message is in the dead letters of {queue}: `make replay` or /chocobox retry",
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            [{"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq, "QueueName"]}}],
            0,
            "Maximum",
        )
        self._alarm(
            f"{main}AgeAlarm",
            f"the oldest message of {queue} waits for more than {OLDEST_MESSAGE_ALARM_SECONDS} s",
            "AWS/SQS",
            "ApproximateAgeOfOldestMessage",
            [{"Name": "QueueName", "Value": {"Fn::GetAtt": [main, "QueueName"]}}],
            OLDEST_MESSAGE_ALARM_SECONDS,
            "Maximum",
        )

    def _alarm(
        self, logical: str, what: str, namespace: str, metric: str, dimensions: list[Any], above: int, stat: str
    ) -> None:
        self.resources[logical] = {
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": {
                "AlarmDescription": f"chocohub {self.stage}: {what}",
                "Namespace": namespace,
                "MetricName": metric,
                "Dimensions": dimensions,
                "Statistic": stat,
                "Period": 300,
                "EvaluationPeriods": 1,
                "Threshold": above,
                "ComparisonOperator": "GreaterThanThreshold",
                "TreatMissingData": "notBreaching",
                "AlarmActions": [{"Ref": "AlarmTopic"}],
            },
        }

    def _consumer(self, function: str, queue: str) -> None:
        logical = cfn_name(function)
        statements = [*self._common(), _statement(QUEUE_CONSUME, [{"Fn::GetAtt": [_queue_id(queue), "Arn"]}])]
        if queue == MAIL:
            statements.append(_statement(SES_SEND, [_arn("ses", "identity/*")]))
        if queue == SLACK:  # `/chocobox retry` replays dead letters from here
            statements.append(self._dead_letter_ops())
        self._function(function, statements)
        resource = self.resources[logical]
        resource["DependsOn"] = [_queue_id(queue)]
        resource["Properties"]["Environment"]["Variables"]["HUB_BATCH_FAILURES"] = "report"
        resource["Properties"]["Events"] = {
            f"{logical}SqsEventSource": {
                "Type": "SQS",
                "Properties": {"FunctionResponseTypes": ["ReportBatchItemFailures"]},
            }
        }

    def _function(self, function: str, statements: list[dict[str, Any]]) -> None:
        """Name, own role, environment, log group with retention, error alarm."""
        logical = cfn_name(function)
        role = f"{logical}Role"
        name = self.function_name(function)
        self.resources[role] = {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "lambda.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                },
                "Policies": [self._policy(f"{logical}Policy", statements)],
            },
        }
        variables: dict[str, Any] = {**self.settings, "HUB_TABLE": {"Ref": "Table"}, "POWERTOOLS_SERVICE_NAME": APP}
        if function != API_FUNCTION and "HUB_PUBLIC_URL" not in variables:
            # The consumers write unsubscribe links: they get the API's URL. The API's own
            # function cannot (a circular reference): it reads it from each request.
            variables["HUB_PUBLIC_URL"] = self.api_url()
        self.resources[logical] = {
            "Properties": {
                "FunctionName": name,
                "Role": {"Fn::GetAtt": [role, "Arn"]},
                "MemorySize": int(function_setting(self.config, self.stage, function, "lambda_memory_size")),
                "Timeout": self.timeout(function),
                "Environment": {"Variables": variables},
            }
        }
        self.resources[f"{logical}Logs"] = {
            "Type": "AWS::Logs::LogGroup",
            "Properties": {"LogGroupName": f"/aws/lambda/{name}", "RetentionInDays": LOG_RETENTION_DAYS},
        }
        self._alarm(
            f"{logical}ErrorAlarm",
            f"{name} failed (see its logs)",
            "AWS/Lambda",
            "Errors",
            [{"Name": "FunctionName", "Value": name}],
            0,
            "Sum",
        )

    # --- permissions -------------------------------------------------------------------

    def _policy(self, name: str, statements: list[dict[str, Any]]) -> dict[str, Any]:
        return {"PolicyName": name, "PolicyDocument": {"Version": "2012-10-17", "Statement": statements}}

    def _common(self) -> list[dict[str, Any]]:
        """Every function: its settings, the table, queueing onto the stage's queues, its logs."""
        path = names.parameter_path(self.stage).rstrip("/")
        region_service = {"Fn::Sub": "ssm.${AWS::Region}.amazonaws.com"}
        return [
            _statement(
                ["ssm:GetParametersByPath", "ssm:GetParameters", "ssm:GetParameter"],
                [_arn("ssm", f"parameter{path}"), _arn("ssm", f"parameter{path}/*")],
            ),
            # SecureStrings are decrypted by SSM with the account's KMS key, on the function's behalf.
            _statement(
                ["kms:Decrypt"], [_arn("kms", "key/*")], Condition={"StringEquals": {"kms:ViaService": region_service}}
            ),
            _statement(TABLE_ITEMS, [{"Fn::GetAtt": ["Table", "Arn"]}]),
            _statement(QUEUE_SEND, [{"Fn::GetAtt": [_queue_id(q), "Arn"]} for q in self._queue_names()]),
            _statement(
                ["sqs:SendMessage", "sqs:GetQueueUrl"],
                [{"Fn::GetAtt": [_dlq_id(q), "Arn"]} for q in self._queue_names()],
            ),
            _statement(
                ["logs:CreateLogStream", "logs:PutLogEvents"],
                [_arn("logs", f"log-group:/aws/lambda/{self.name('*')}:*")],
            ),
        ]

    def _queue_names(self) -> list[str]:
        return sorted(set(self.consumers.values()))

    def _dead_letter_ops(self) -> dict[str, Any]:
        return _statement(DEAD_LETTER_OPS, [{"Fn::GetAtt": [_dlq_id(q), "Arn"]} for q in self._queue_names()])

    def _api_policy(self) -> list[dict[str, Any]]:
        # /health asks SES whether the sender is verified; /chocobox retry and the admin
        # API replay dead letters; the dashboard reads each queue's oldest-message age from
        # CloudWatch (GetMetricData has no resource-level permission: its resource is "*").
        return [
            *self._common(),
            self._dead_letter_ops(),
            _statement(["ses:GetEmailIdentity"], [_arn("ses", "identity/*")]),
            _statement(["cloudwatch:GetMetricData"], ["*"]),
        ]

    def _scheduled_policy(self) -> list[dict[str, Any]]:
        return self._common()


def merge_template(
    stage: str, config: dict[str, Any] | None = None, settings: dict[str, str] | None = None
) -> dict[str, Any]:
    """The merge template of `stage` (see the module's docstring)."""
    return StageTemplate(stage, config, settings).build()
