"""Identity headers and credentials of a request: what is stripped, where the token is found, what is an API key.

Stripping comes first on every request (gateway-interface.md item 3): a client must never be able to send the headers
the gateway mints after a valid JWT, nor the ``X-IAM-*``/``X-User-*`` families backends trust, whether auth is on or
off, the path public or the token an API key.
"""

from __future__ import annotations

from hanzo_edge.http.messages import Request

__all__ = [
    "API_KEY_PREFIXES",
    "TOKEN_COOKIES",
    "bearer_token",
    "is_api_key",
    "request_token",
    "strip_identity_headers",
]

# Exact names (lower-case) and the prefixes of whole families, all compared case-insensitively.
_STRIPPED_NAMES = frozenset(
    name.lower().encode()
    for name in (
        "X-User-Id",
        "X-Org-Id",
        "X-User-Email",
        "X-User-Roles",
        "X-Roles",
        "X-Role",
        "X-User-IsAdmin",
        "X-Is-Admin",
        "X-Phone-Number",
        # Later hanzoai/gateway revisions strip these too; backends of theirs trust them, so we do as well.
        "X-User-Role",
        "X-User-Name",
        "X-Tenant-Id",
        "X-Org",
        "X-User-Permissions",
        "X-Project-Id",
        "X-Billing-Account-Id",
        "X-User-IsGlobalAdmin",
    )
)
_STRIPPED_PREFIXES = (b"x-hanzo-", b"x-iam-", b"x-gateway-")

API_KEY_PREFIXES = ("hk-", "sk-", "fw_", "hz_", "pk-")
TOKEN_COOKIES = ("casdoor_access_token", "access_token", "hanzo_token")


def _forged(lname: bytes) -> bool:
    # Underscores count as dashes: CGI/WSGI servers, PHP and nginx (underscores_in_headers) read X_User_Id as the
    # X-User-Id a backend trusts.
    lname = lname.replace(b"_", b"-")
    return lname in _STRIPPED_NAMES or lname.startswith(_STRIPPED_PREFIXES)


def strip_identity_headers(req: Request) -> None:
    """Remove every client-sent identity header from ``req`` (in place; no copy when there is none)."""
    raw = req.headers.raw
    for name, _ in raw:
        lname = name.lower()
        if lname[:1] == b"x" and lname[1:2] in (b"-", b"_") and _forged(lname):
            req.headers.raw = [(n, v) for n, v in raw if not _forged(n.lower())]
            return


def bearer_token(value: str) -> str:
    """The token of an ``Authorization`` value ``Bearer <token>`` (scheme case-insensitive, split on the first space,
    trimmed); "" for another scheme or no token (as hanzoai/gateway's ``extractToken``)."""
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer":
        return ""
    return token.strip()


def _cookie(req: Request, wanted: str) -> str:
    for header in req.headers.get_all("Cookie"):
        for pair in header.split(";"):
            name, sep, value = pair.strip().partition("=")
            if sep and name == wanted and value:
                return value.strip().strip('"')
    return ""


def request_token(req: Request) -> str:
    """The request's credential: ``Authorization`` (else ``X-Authorization``) Bearer, else the first non-empty of the
    cookies ``casdoor_access_token``, ``access_token``, ``hanzo_token``; "" when there is none."""
    header = req.headers.get("Authorization") or req.headers.get("X-Authorization")
    if header:
        token = bearer_token(header)
        if token:
            return token
    if req.headers.get_raw(b"cookie") is None:
        return ""
    for name in TOKEN_COOKIES:
        token = _cookie(req, name)
        if token:
            return token
    return ""


def is_api_key(token: str) -> bool:
    """True for Hanzo API keys, which pass the gateway unvalidated (the backend checks them)."""
    return token.startswith(API_KEY_PREFIXES)
