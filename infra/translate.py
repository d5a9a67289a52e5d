"""The plain CloudFormation that AWS's SAM transform makes of a packaged template, offline.

Used to lint what CloudFormation will really create (a circular reference such as a
function whose environment names its own API only shows there) and to create the stack
on moto's server, which does not run the SAM transform.
"""

from __future__ import annotations

import copy
from typing import Any


def with_code(template: dict[str, Any], bucket: str, key: str) -> dict[str, Any]:
    """The template with every function's `CodeUri` pointing at the uploaded zip."""
    out = copy.deepcopy(template)
    for resource in out["Resources"].values():
        if resource.get("Type") == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = {"Bucket": bucket, "Key": key}
    return out


def translate(
    template: dict[str, Any], region: str = "us-east-1", bucket: str = "chocohub-artifacts", key: str = "deployment.zip"
) -> dict[str, Any]:
    """Run the SAM transform (aws-sam-translator) on a packaged template, for `region`.

    No AWS call is made: the templates name no AWS managed policy, so the translator's
    policy map is empty, and its boto3 session only supplies the region.
    """
    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    session = boto3.session.Session(region_name=region, aws_access_key_id="unused", aws_secret_access_key="unused")
    translator = Translator({}, Parser(), boto_session=session)
    return translator.translate(with_code(template, bucket, key), parameter_values={})
