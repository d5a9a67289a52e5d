"""Settings kept in SSM Parameter Store, under `/chocohub/<stage>/<SETTING>`.

In AWS the secrets never sit in `config.json`, the template or a function's environment:
they are SecureStrings under the stage's path, read with Powertools Parameters in one
`GetParametersByPath` call per container and cached for `MAX_AGE` seconds, so a rotated
secret reaches running containers without a deploy. The process environment still wins
(tests, an operator's one-off override).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from chalicelib import names
from chalicelib.errors import ConfigurationError

# The settings that are secrets: only ever SecureStrings in SSM, never in the template.
SECRETS: tuple[str, ...] = (
    "HUB_SECRET_KEY",
    "HUB_ADMIN_TOKEN",
    "STRIPE_WEBHOOK_SECRET",
    "SLACK_SIGNING_SECRET",
    "SLACK_BOT_TOKEN",
    "FORMSTACK_HMAC_KEY",
    "FORMSTACK_HANDSHAKE_KEY",
    "GOOGLE_SERVICE_ACCOUNT",
    "ODOO_API_KEY",
    "SMTP_URL",
)
# Those without which a deployed hub cannot run (`make secrets` asks for them first).
REQUIRED: tuple[str, ...] = (
    "HUB_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "SLACK_SIGNING_SECRET",
    "SLACK_BOT_TOKEN",
    "GOOGLE_SERVICE_ACCOUNT",
    "ODOO_API_KEY",
)
MAX_AGE = 300

_provider: Any = None
_lock = threading.Lock()


def _ssm() -> Any:
    """Powertools' SSM provider, made on first use (its boto3 client costs a cold start)."""
    global _provider
    with _lock:
        if _provider is None:
            from aws_lambda_powertools.utilities.parameters import SSMProvider
            from botocore.config import Config

            _provider = SSMProvider(boto_config=Config(connect_timeout=5, read_timeout=5, retries={"max_attempts": 3}))
        return _provider


def reset() -> None:
    """Forget the provider and its cache (tests)."""
    global _provider
    with _lock:
        _provider = None


def stored(stage: str) -> dict[str, str]:
    """Every setting stored for `stage`, by setting name (cached for `MAX_AGE` seconds).

    Only settings the hub knows are returned: a stray parameter under the path never
    becomes part of the environment.
    """
    from chalicelib.plumbing.aws import aws_error

    try:
        found = _ssm().get_multiple(names.parameter_path(stage), max_age=MAX_AGE, decrypt=True, recursive=False)
    except Exception as exc:
        mapped = aws_error(exc, f"SSM parameters under {names.parameter_path(stage)}")
        raise ConfigurationError(str(mapped)) from exc
    return {key: str(value) for key, value in found.items() if key in SECRETS}


def environment(env: Mapping[str, str]) -> dict[str, str]:
    """The settings the hub runs on: SSM's under the environment's. SSM is read only for
    the AWS runtime (`HUB_TABLE` set); the embedded hub on a laptop never calls AWS."""
    merged = dict(env)
    if not env.get("HUB_TABLE", "").strip():
        return merged
    stage = env.get("HUB_STAGE", "").strip() or "prod"
    for key, value in stored(stage).items():
        if not merged.get(key, "").strip():
            merged[key] = value
    return merged
