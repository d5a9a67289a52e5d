"""`make resources STAGE=…`: the one extra step before `chalice deploy --stage …`.

`chalice deploy` creates the functions and the API but no queue, table or permission
to use them. This creates the stage's queues, dead-letter queues and table (the same
names and numbers as the deploy template), writes the role's policy to
`.chalice/policy-<stage>.json` (the template's per-function statements, merged: Chalice
gives every function one role) and points the stage in `.chalice/config.json` at both.
"""

from __future__ import annotations

import argparse
import json
import re
from typing import Any

from chalicelib import names
from chalicelib.plumbing.aws import create_resources
from infra.template import ROOT, VISIBILITY_PER_TIMEOUT, StageTemplate


def resolve(value: Any, template: dict[str, Any], region: str, account: str, partition: str = "aws") -> Any:
    """The template's ARNs with their intrinsic functions worked out for one account."""
    if isinstance(value, list):
        return [resolve(v, template, region, account, partition) for v in value]
    if not isinstance(value, dict):
        return value
    if "Fn::Sub" in value and isinstance(value["Fn::Sub"], str):
        pseudo = {"AWS::Partition": partition, "AWS::Region": region, "AWS::AccountId": account}
        return re.sub(r"\$\{([^}]+)\}", lambda m: pseudo[m.group(1)], value["Fn::Sub"])
    if "Fn::GetAtt" in value:
        logical, attribute = value["Fn::GetAtt"]
        props = template[logical]["Properties"]
        if attribute == "Arn" and "QueueName" in props:
            return f"arn:{partition}:sqs:{region}:{account}:{props['QueueName']}"
        if attribute == "Arn" and "TableName" in props:
            return f"arn:{partition}:dynamodb:{region}:{account}:table/{props['TableName']}"
        raise ValueError(f"cannot resolve {value}")
    return {k: resolve(v, template, region, account, partition) for k, v in value.items()}


def policy(stage: str, region: str, account: str) -> dict[str, Any]:
    """One policy with every statement any function of the stage needs, plus log groups
    (the template creates them; `chalice deploy` leaves that to Lambda)."""
    built = StageTemplate(stage)
    resources = built.build()["Resources"]
    statements: list[dict[str, Any]] = []
    for logical, resource in resources.items():
        if resource.get("Type") != "AWS::IAM::Role" or logical == "DefaultRole":
            continue
        for document in resource["Properties"]["Policies"]:
            for statement in document["PolicyDocument"]["Statement"]:
                resolved = resolve(statement, resources, region, account)
                if resolved not in statements:
                    statements.append(resolved)
    statements.append(
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup"],
            "Resource": [f"arn:aws:logs:{region}:{account}:log-group:/aws/lambda/{names.APP}-{stage}-*"],
        }
    )
    return {"Version": "2012-10-17", "Statement": statements}


def main(argv: list[str] | None = None) -> None:
    import boto3

    parser = argparse.ArgumentParser(prog="make resources", description=__doc__)
    parser.add_argument("stage")
    args = parser.parse_args(argv)
    stage = args.stage
    if stage == "dev":
        # `chalice local` copies the dev stage's variables over the environment: HUB_TABLE
        # there would switch `make run` on a laptop to this AWS table and its queues.
        raise SystemExit("dev is the stage `make run` uses on a laptop: deploy with chalice under another name")
    session = boto3.session.Session()
    if not session.region_name:
        raise SystemExit("no AWS region: set AWS_REGION")
    account = session.client("sts").get_caller_identity()["Account"]
    built = StageTemplate(stage)
    timeout = max(built.timeout(function) for function in built.consumers)
    made = create_resources(
        names.prefix(stage), names.table(stage), visibility_timeout=VISIBILITY_PER_TIMEOUT * timeout
    )
    policy_file = ROOT / ".chalice" / f"policy-{stage}.json"
    policy_file.write_text(json.dumps(policy(stage, session.region_name, account), indent=2) + "\n")
    config_file = ROOT / ".chalice" / "config.json"
    config = json.loads(config_file.read_text())
    stage_config = config["stages"][stage]
    stage_config["autogen_policy"] = False
    stage_config["iam_policy_file"] = policy_file.name
    stage_config.setdefault("environment_variables", {})["HUB_TABLE"] = made["table"]
    config_file.write_text(json.dumps(config, indent=2) + "\n")
    print(f"queues: {', '.join(made['queues'].values())}")
    print(f"table: {made['table']}; policy: {policy_file}; .chalice/config.json updated for {stage}")
    print(f"next: make secrets STAGE={stage}, then chalice deploy --stage {stage}")


if __name__ == "__main__":
    main()
