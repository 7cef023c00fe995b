"""``python -m gemini_magics.emulator --port N``: serve the emulated Interactions API."""

from __future__ import annotations

import argparse
import sys

from . import directives
from .app import Settings


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="gemini-emulator",
        description="A local, offline emulator of the Gemini Interactions API for the google-genai SDK.",
        epilog="Point a client at it: genai.Client(api_key='any', http_options=types.HttpOptions("
        "base_url='http://127.0.0.1:PORT')) or GOOGLE_GEMINI_BASE_URL=http://127.0.0.1:PORT.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    parser.add_argument("--port", type=int, default=8765, help="port (0 = a free one; default 8765)")
    parser.add_argument(
        "--require-key", action="store_true", help="answer 401 to requests without an x-goog-api-key header"
    )
    parser.add_argument(
        "--api-key",
        action="append",
        default=[],
        metavar="KEY",
        help="accept only this key (repeatable); other keys get the service's 400",
    )
    parser.add_argument(
        "--agent-seconds", type=float, default=20.0, help="how long a Deep Research run takes (default 20)"
    )
    parser.add_argument(
        "--expire-after",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stored interactions expire this long after they finish",
    )
    parser.add_argument(
        "--batch-rate",
        type=float,
        default=None,
        metavar="PER_SECOND",
        help="Batch API requests answered a second (default: $GEMINI_EMULATOR_BATCH_RATE, else 20)",
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="DIRECTIVES",
        help="directives applied to every request, e.g. 'rate=50' or 'cut=10' "
        f"(keys: {', '.join(sorted(directives.KNOWN))})",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        faults = directives.parse(",".join(args.fault))
    except ValueError as exc:
        print(f"gemini-emulator: {exc}", file=sys.stderr)
        return 2
    settings = Settings(
        require_key=args.require_key or bool(args.api_key),
        api_keys=frozenset(args.api_key),
        agent_seconds=args.agent_seconds,
        expire_after=args.expire_after,
        faults=faults,
        batch_rate=args.batch_rate,
    )
    import uvicorn

    from .app import Emulator

    emulator = Emulator(settings)
    print(f"Gemini Interactions API emulator on http://{args.host}:{args.port} (Ctrl-C to stop)", flush=True)
    uvicorn.run(
        emulator.app,
        host=args.host,
        port=args.port,
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=1,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
