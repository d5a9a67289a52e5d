"""Chalice's own answers in the hub's shape.

Chalice answers some requests before any view runs, as `{"Code", "Message"}`: a content
type the route does not list (415), a method it does not have (405), and a view that
raised (500). Every answer of the hub is `{"error": "<what to do>"}` (DESIGN.md §2), so
an HTTP middleware rewrites these. (Unknown paths are answered by API Gateway, or by
`chalice local`'s imitation of it, before the app: see the README's Security section.)
"""

from __future__ import annotations

import json
from typing import Any

from chalice.app import Response

# Views answer these themselves; a 500 here is a bug, and says so without details.
INTERNAL = "the hub failed on this request and queued nothing: retry later; if it persists, tell the hub's operators"


def uniform(request: Any, response: Response, routes: dict[str, dict[str, Any]]) -> Response:
    """`response` itself, or, when Chalice wrote it, the same status as `{"error"}` JSON."""
    body = response.body
    if not (isinstance(body, dict) and set(body) == {"Code", "Message"}):
        return response
    status = response.status_code
    method = getattr(request, "method", "")
    path = (getattr(request, "context", None) or {}).get("resourcePath", "")
    if status == 415:
        route = routes.get(path, {}).get(method)
        accepted = " or ".join(route.content_types) if route else "the documented type"
        message = f"{body['Message']}: {method} {path} accepts {accepted}"
    elif status == 405:
        allowed = dict(response.headers).get("Allow", "")
        message = f"{method} is not allowed on {path}: use {allowed}"
    elif status >= 500:
        message = INTERNAL
    else:
        message = str(body["Message"])
    headers = {**response.headers, "Content-Type": "application/json"}
    return Response(body=json.dumps({"error": message}), status_code=status, headers=headers)
