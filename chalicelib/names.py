"""What each stage's AWS resources are called: `chocohub-<stage>-signups`, its `-dlq`, the
table `chocohub-<stage>`, the settings under `/chocohub/<stage>/`.

One function per name, used by app.py (the queues its consumers subscribe to), the AWS
runtime (which queue to send to) and the deploy template, so that two stages in one
account never share, or consume, each other's messages.
"""

from __future__ import annotations

import os
import re

from chalicelib.queues import QUEUES

APP = "chocohub"
# A hub that is told no stage is treated as production: only `dev` gets dev defaults.
DEFAULT_STAGE = "prod"
DLQ_SUFFIX = "-dlq"
# A stage name ends up in queue, table, function and parameter names: keep it to what all accept.
_STAGE = re.compile(r"^[a-z][a-z0-9-]{0,19}$")


def current_stage() -> str:
    """The stage this process runs as (`HUB_STAGE`, which Chalice sets per stage from
    `.chalice/config.json`, for `chalice local`, `chalice package` and in Lambda alike)."""
    return os.environ.get("HUB_STAGE", "").strip() or DEFAULT_STAGE


def valid_stage(stage: str) -> bool:
    return bool(_STAGE.match(stage))


def prefix(stage: str) -> str:
    """What every queue name of `stage` starts with."""
    return f"{APP}-{stage}-"


def queue(stage: str, logical: str) -> str:
    """The SQS name of a logical queue (`signups` → `chocohub-prod-signups`)."""
    return prefix(stage) + logical


def logical(name: str) -> str:
    """The logical queue of a physical name, whatever its stage (`chocohub-dev-mail` → `mail`);
    a logical name is returned as it is."""
    for known in QUEUES:
        if name == known or (name.startswith(f"{APP}-") and name.endswith(f"-{known}")):
            return known
    return name


def table(stage: str) -> str:
    return f"{APP}-{stage}"


def parameter_path(stage: str) -> str:
    """The SSM path of the stage's settings (secrets as SecureStrings)."""
    return f"/{APP}/{stage}/"
