"""The service's string error codes (recorded: ``invalid_request``, ``not_found``, ``gateway_timeout``)."""

from __future__ import annotations

ERROR_CODES = {
    400: "invalid_request",
    401: "unauthenticated",
    403: "permission_denied",
    404: "not_found",
    409: "conflict",
    429: "resource_exhausted",
    500: "internal_error",
    503: "unavailable",
    504: "gateway_timeout",
}


def reason(code: int | str) -> str:
    """The string code for an HTTP status (or a numeric string); other strings pass through."""
    if isinstance(code, str) and not code.isdigit():
        return code
    status = int(code)
    return ERROR_CODES.get(status, "internal_error" if status >= 500 else "invalid_request")
