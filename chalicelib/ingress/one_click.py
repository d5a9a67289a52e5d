"""RFC 8058 one-click unsubscribe: the POST's form, in whichever encoding the mail client
chose. RFC 8058 recommends `multipart/form-data`; browsers posting the page's button send
`application/x-www-form-urlencoded`."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from chalicelib.ingress.common import Rejection, header, media_type

if TYPE_CHECKING:
    from email.message import Message

FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
CONTENT_TYPES = [FORM, MULTIPART]
FIELD, VALUE = "List-Unsubscribe", "One-Click"
ONE_CLICK = f"{FIELD}={VALUE}"
MAX_PARTS = 20
MAX_PART_HEAD = 2000


def is_one_click(raw: bytes, headers: dict[str, str]) -> bool:
    """True when the form carries `List-Unsubscribe=One-Click`; 400 for a body that is not
    the form its Content-Type says."""
    kind = media_type(headers)
    if kind == MULTIPART:
        return VALUE in _multipart_values(raw, header(headers, "Content-Type"))
    try:
        fields = parse_qs(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_PARTS)
    except (UnicodeDecodeError, ValueError) as exc:
        raise Rejection(400, "the unsubscribe form is not URL-encoded UTF-8") from exc
    return VALUE in fields.get(FIELD, [])


def _multipart_values(raw: bytes, content_type: str) -> list[str]:
    """The values of the form's `List-Unsubscribe` parts.

    The body is split on its boundary (one pass in C), and only each of the first
    `MAX_PARTS` parts' own few header lines go through the stdlib's MIME header parser:
    parsing a whole 1 MiB body of tiny parts with it takes seconds.
    """
    boundary = _parse_headers(b"Content-Type: " + content_type.encode("latin-1", "replace")).get_boundary()
    if not boundary:
        raise Rejection(400, "the unsubscribe form is multipart/form-data without a boundary")
    delimiter = b"--" + boundary.encode("latin-1", "replace")
    parts = raw.split(delimiter, MAX_PARTS + 1)[1 : MAX_PARTS + 1]
    values = []
    for part in parts:
        head, found, body = part.partition(b"\r\n\r\n")
        if not found or len(head) > MAX_PART_HEAD:
            continue
        if _parse_headers(head.strip()).get_param("name", header="content-disposition") == FIELD:
            values.append(body.removesuffix(b"\r\n").decode("utf-8", "replace").strip())
    return values


class NotOneClick(Rejection):
    """An unsubscribe POST without RFC 8058's `List-Unsubscribe=One-Click` body."""

    def __init__(self) -> None:
        super().__init__(400, f"the request must carry {ONE_CLICK}")


def _parse_headers(lines: bytes) -> Message:
    # The stdlib's email package costs a cold start some 25 ms: only multipart forms need it.
    from email import policy
    from email.parser import BytesParser

    return BytesParser(policy=policy.HTTP).parsebytes(lines + b"\r\n\r\n", headersonly=True)
