"""The hub's public base URL, as the caller reached it.

The deploy template cannot hand the API's URL to the API's own function (the URL is
made from the API, whose integration names the function: a circular reference), so
the API function reads it from each request's API Gateway context: domain and stage.
`HUB_PUBLIC_URL`, when set, wins: a custom domain maps its own base path, which the
context does not tell.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def from_request(context: Mapping[str, Any] | None, configured: str, given: bool) -> str:
    """`configured` when the setting was given; else `https://<api domain>/<stage>` when the
    request came through API Gateway's own domain; else `configured` (its default)."""
    if given or not context:
        return configured
    domain = str(context.get("domainName") or "")
    stage = str(context.get("stage") or "")
    if domain.endswith(".amazonaws.com") and ".execute-api." in domain and stage:
        return f"https://{domain}/{stage}"
    return configured
