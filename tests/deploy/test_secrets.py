"""`make secrets`: SecureStrings under the stage's path, names reported, values never printed."""

from __future__ import annotations

import json

import pytest

from chalicelib import names
from tests.adapters.test_aws_runtime import aws  # noqa: F401  (moto's AWS, the hub's resources)

STRIPE = "whsec_secret_value_never_printed"


def test_secrets_from_a_file_are_stored_encrypted_and_only_named(aws, tmp_path, capsys, monkeypatch):  # noqa: F811
    import boto3

    from infra import secrets

    key_file = tmp_path / "sa.json"
    key_file.write_text('{"type": "service_account"}')
    given = tmp_path / "prod.secrets"
    given.write_text(f"STRIPE_WEBHOOK_SECRET={STRIPE}\nGOOGLE_SERVICE_ACCOUNT={key_file}\n")
    with pytest.raises(SystemExit) as exit_:  # required ones are still missing
        secrets.main(["prod", "--file", str(given)])
    assert exit_.value.code == 1
    out = capsys.readouterr().out
    assert STRIPE not in out and "service_account" not in out
    assert "STRIPE_WEBHOOK_SECRET" in out and "still missing, required: HUB_SECRET_KEY" in out

    ssm = boto3.client("ssm")
    stored = ssm.get_parameter(Name=f"{names.parameter_path('prod')}STRIPE_WEBHOOK_SECRET", WithDecryption=True)
    assert stored["Parameter"]["Type"] == "SecureString"
    assert stored["Parameter"]["Value"] == STRIPE
    account = ssm.get_parameter(Name=f"{names.parameter_path('prod')}GOOGLE_SERVICE_ACCOUNT", WithDecryption=True)
    assert account["Parameter"]["Value"] == '{"type": "service_account"}'  # the file's content, not its path
    assert secrets.stored_names(ssm, "dev") == set()  # another stage sees nothing


def test_a_setting_that_is_not_a_secret_is_refused(aws, tmp_path):  # noqa: F811
    from infra import secrets

    given = tmp_path / "x.secrets"
    given.write_text("GOOGLE_SHEET_ID=abc\n")
    with pytest.raises(SystemExit, match="not secrets"):
        secrets.main(["prod", "--file", str(given)])


def test_the_chalice_deploy_policy_names_only_the_stage_s_resources():
    """`make resources` turns the template's statements into plain ARNs for one account."""
    from infra.resources import policy

    document = json.dumps(policy("prod", "eu-west-3", "123456789012"))
    assert "Fn::" not in document and "${" not in document
    assert "arn:aws:sqs:eu-west-3:123456789012:chocohub-prod-signups" in document
    assert "arn:aws:dynamodb:eu-west-3:123456789012:table/chocohub-prod" in document
    assert "chocohub-dev" not in document
    actions = [a for s in json.loads(document)["Statement"] for a in s["Action"]]
    assert "ses:SendRawEmail" in actions and not any("*" in a for a in actions)


def test_make_resources_leaves_the_laptop_stage_alone():
    from infra.resources import main

    with pytest.raises(SystemExit, match="make run"):
        main(["dev"])
