"""`make deploy STAGE=…` and `make destroy STAGE=…`: the packaged stage on CloudFormation.

Deploy uploads `build/<stage>/deployment.zip` (and the template, too big to inline) to
the stage's artifacts bucket, creates or updates the stack `chocohub-<stage>`, waits for
the outcome, and prints the webhook URLs to paste into Formstack, Stripe and Slack.
A failed update is rolled back by CloudFormation itself to the last good version.
Credentials and region are boto3's usual ones (`AWS_PROFILE`, `AWS_REGION`, …).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

from chalicelib import names
from infra.translate import with_code

ROOT = Path(__file__).resolve().parent.parent
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"]
# CloudFormation takes at most this many bytes of template inline; beyond, from S3.
INLINE_TEMPLATE_LIMIT = 51_200
WEBHOOKS = {
    "Formstack (WebHook URL)": "/webhooks/formstack",
    "Stripe (webhook endpoint)": "/webhooks/stripe",
    "Slack Event Subscriptions (Request URL)": "/slack/events",
    "Slack slash command /chocobox (Request URL)": "/slack/commands",
}
_DONE = {
    "CREATE_COMPLETE",
    "UPDATE_COMPLETE",
    "DELETE_COMPLETE",
    "ROLLBACK_COMPLETE",
    "ROLLBACK_FAILED",
    "CREATE_FAILED",
    "DELETE_FAILED",
    "UPDATE_ROLLBACK_COMPLETE",
    "UPDATE_ROLLBACK_FAILED",
    "UPDATE_FAILED",
}


class DeployError(Exception):
    """The stack did not reach the state asked for; the message says why."""


def stack_name(stage: str) -> str:
    return f"{names.APP}-{stage}"


def artifacts_bucket(stage: str, account: str, region: str) -> str:
    """One bucket per stage, account and region (bucket names are global)."""
    return f"{names.APP}-{stage}-artifacts-{account}-{region}"


def ensure_bucket(s3: Any, bucket: str, region: str) -> None:
    try:
        s3.head_bucket(Bucket=bucket)
        return
    except Exception as exc:
        if getattr(exc, "response", {}).get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
            raise
    kwargs: dict[str, Any] = {"Bucket": bucket}
    if region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    s3.create_bucket(**kwargs)
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )


def upload(s3: Any, bucket: str, path: Path) -> str:
    """Upload a file under a key named by its content: an unchanged zip is not a change."""
    data = path.read_bytes()
    key = f"{path.stem}-{hashlib.sha256(data).hexdigest()[:16]}{path.suffix}"
    s3.put_object(Bucket=bucket, Key=key, Body=data)
    return key


def stack_status(cfn: Any, stack: str) -> str | None:
    try:
        return cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]
    except Exception as exc:
        if "does not exist" in str(exc):
            return None
        raise


def failures(cfn: Any, stack: str, limit: int = 10) -> list[str]:
    """The stack's latest failure reasons, newest first."""
    found = []
    for event in cfn.describe_stack_events(StackName=stack)["StackEvents"]:
        if event.get("ResourceStatus", "").endswith("FAILED"):
            found.append(f"{event['LogicalResourceId']}: {event.get('ResourceStatusReason', '')}")
        if len(found) >= limit:
            break
    return found


def wait(cfn: Any, stack: str, timeout: float = 1800, poll: float = 5) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = stack_status(cfn, stack)
        if status is None:
            return "DELETE_COMPLETE"
        if status in _DONE:
            return status
        time.sleep(poll)
    raise DeployError(f"{stack}: still not done after {timeout:.0f} s")


def deploy_stack(cfn: Any, stack: str, template: dict[str, Any], template_url: str = "", poll: float = 5) -> dict:
    """Create or update `stack`; wait; return its outputs. Raises `DeployError` on failure."""
    source = {"TemplateURL": template_url} if template_url else {"TemplateBody": json.dumps(template)}
    status = stack_status(cfn, stack)
    if status == "ROLLBACK_COMPLETE":  # a first create that failed: it can only be deleted
        cfn.delete_stack(StackName=stack)
        wait(cfn, stack, poll=poll)
        status = None
    try:
        if status is None:
            cfn.create_stack(StackName=stack, Capabilities=CAPABILITIES, **source)
            wanted = "CREATE_COMPLETE"
        else:
            cfn.update_stack(StackName=stack, Capabilities=CAPABILITIES, **source)
            wanted = "UPDATE_COMPLETE"
    except Exception as exc:
        if "No updates are to be performed" not in str(exc):
            raise
        wanted = status or ""
    final = wait(cfn, stack, poll=poll)
    if final != wanted:
        reasons = "\n  ".join(failures(cfn, stack)) or "(no event says)"
        raise DeployError(f"{stack}: {final} (wanted {wanted}):\n  {reasons}")
    stack_outputs = cfn.describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
    return {o["OutputKey"]: o["OutputValue"] for o in stack_outputs}


def webhook_urls(outputs: dict[str, str]) -> dict[str, str]:
    base = outputs["EndpointURL"].rstrip("/")
    return {what: base + path for what, path in WEBHOOKS.items()}


def deploy(stage: str, build: Path | None = None) -> dict[str, str]:
    import boto3

    build = build or ROOT / "build" / stage
    sam = json.loads((build / "sam.json").read_text(encoding="utf-8"))
    session = boto3.session.Session()
    region = session.region_name
    if not region:
        raise DeployError("no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION, or a profile's region)")
    account = session.client("sts").get_caller_identity()["Account"]
    s3 = session.client("s3")
    bucket = artifacts_bucket(stage, account, region)
    ensure_bucket(s3, bucket, region)
    template = with_code(sam, bucket, upload(s3, bucket, build / "deployment.zip"))
    body = json.dumps(template)
    url = ""
    if len(body.encode()) > INLINE_TEMPLATE_LIMIT:
        (build / "deploy.json").write_text(body, encoding="utf-8")
        key = upload(s3, bucket, build / "deploy.json")
        url = f"https://{bucket}.s3.{region}.amazonaws.com/{key}"
    print(f"deploying {stack_name(stage)} to {region} (account {account}); this takes a few minutes…")
    outputs = deploy_stack(session.client("cloudformation"), stack_name(stage), template, url)
    print(f"\n{stack_name(stage)} is up. Paste these URLs:")
    for what, address in webhook_urls(outputs).items():
        print(f"  {what:45} {address}")
    print(f"\nHealth: {outputs['EndpointURL'].rstrip('/')}/health")
    print(f"Alarms go to the SNS topic {outputs.get('AlarmTopic', '?')}: subscribe your email to it.")
    return outputs


def destroy(stage: str, yes: bool = False) -> None:
    import boto3

    stack = stack_name(stage)
    if not yes:
        print(f"This deletes {stack}: its queues (with any message still in them), its dead letters and its table.")
        if input(f"Type the stage name ({stage}) to go on: ").strip() != stage:
            raise SystemExit("nothing deleted")
    session = boto3.session.Session()
    cfn = session.client("cloudformation")
    cfn.delete_stack(StackName=stack)
    final = wait(cfn, stack)
    if final != "DELETE_COMPLETE":
        raise DeployError(f"{stack}: {final}:\n  " + "\n  ".join(failures(cfn, stack)))
    account = session.client("sts").get_caller_identity()["Account"]
    bucket = artifacts_bucket(stage, account, session.region_name)
    s3 = session.client("s3")
    try:
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
            for item in page.get("Versions", []) + page.get("DeleteMarkers", []):
                s3.delete_object(Bucket=bucket, Key=item["Key"], VersionId=item["VersionId"])
        s3.delete_bucket(Bucket=bucket)
    except Exception as exc:
        if "NoSuchBucket" not in str(exc):
            raise
    print(f"{stack} deleted (the SSM parameters under {names.parameter_path(stage)} are kept).")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m infra.deploy", description=__doc__)
    parser.add_argument("action", choices=["deploy", "destroy"])
    parser.add_argument("stage")
    parser.add_argument("--yes", action="store_true", help="destroy without asking")
    args = parser.parse_args(argv)
    if not names.valid_stage(args.stage):
        raise SystemExit(f"stage {args.stage!r}: lower-case letters, digits and dashes")
    try:
        if args.action == "deploy":
            deploy(args.stage)
        else:
            destroy(args.stage, args.yes)
    except DeployError as exc:
        print(f"failed: {exc}", file=sys.stderr)
        raise SystemExit(1) from exc


if __name__ == "__main__":
    main()
