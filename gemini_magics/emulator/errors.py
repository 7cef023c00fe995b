"""The service's error vocabulary: the Interactions API's string codes (recorded: ``invalid_request``,
``not_found``, ``gateway_timeout``), the wording of injected HTTP errors, and the ``google.rpc.Code`` an HTTP
status stands for (a batch's per-request errors are ``google.rpc.Status`` objects)."""

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


# What the service says for the HTTP errors the ``error`` directive injects.
MESSAGES = {
    429: "Resource has been exhausted (e.g. check quota).",
    500: "An internal error has occurred. Please retry or report in "
    "https://developers.generativeai.google/guide/troubleshooting",
    503: "The model is overloaded. Please try again later.",
}

# google.rpc.Code numbers (google/rpc/code.proto) for HTTP statuses, as Google's HTTP mapping pairs them.
RPC_CODES = {400: 3, 401: 16, 403: 7, 404: 5, 409: 6, 429: 8, 499: 1, 500: 13, 501: 12, 503: 14, 504: 4}


def message(code: int) -> str:
    """The service's wording for an injected HTTP error."""
    return MESSAGES.get(code, f"Injected error {code}.")


def rpc_code(status: int) -> int:
    """The ``google.rpc.Code`` for an HTTP status (13 INTERNAL for an unmapped 5xx, 2 UNKNOWN otherwise)."""
    return RPC_CODES.get(status, 13 if status >= 500 else 2)
