"""The %%gemini flag grammar: every flag parses to the typed request, bad lines give one-line errors."""

from __future__ import annotations

import pytest

from gemini_magics.options import CellRequest, OptionsError, parse, usage


def test_empty_line_uses_defaults() -> None:
    assert parse("") == CellRequest()


def test_every_flag() -> None:
    request = parse(
        "answer -m gemini-3.1-pro-preview --system 'Be brief' --thinking low --thoughts --no-stream "
        "-t 0.2 --max-tokens 100 --chain ideas --json"
    )
    assert request.variable == "answer"
    assert request.model == "gemini-3.1-pro-preview"
    assert request.system == "Be brief"
    assert request.thinking == "low"
    assert request.thoughts is True
    assert request.stream is False
    assert request.temperature == 0.2
    assert request.max_tokens == 100
    assert request.chain == "ideas"
    assert request.show_json is True


def test_branch_background_agent() -> None:
    assert parse("--from v1_abc").branch_from == "v1_abc"
    assert parse("--new").new is True
    request = parse("--agent deep-research-pro-preview-12-2025 --background")
    assert (request.agent, request.background) == ("deep-research-pro-preview-12-2025", True)
    assert parse("--no-store").store is False
    assert parse("--no-thoughts").thoughts is False
    assert parse("--stream").stream is True


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("--thinking extreme", "invalid choice"),
        ("--temperature 3", "between 0.0 and 2.0"),
        ("--max-tokens 0", "positive"),
        ("--bogus", "unrecognized arguments"),
        ("-m a --agent b", "either --model or --agent"),
        ("--no-store --chain x", "--no-store cannot be combined with --chain"),
        ("--no-store --background", "--no-store cannot be combined with --background"),
        (
            "--no-store --agent deep-research-pro-preview-12-2025",
            "--no-store cannot be combined with --agent",
        ),
        ("--new --from v1_x", "pick one"),
        ("'unclosed", "cannot parse"),
        ("1abc", "not a valid variable name"),
        ("-t warm", "invalid float value"),
    ],
)
def test_bad_lines_give_one_line_errors(line: str, fragment: str) -> None:
    with pytest.raises(OptionsError) as caught:
        parse(line)
    message = str(caught.value)
    assert fragment in message
    assert "\n" not in message.strip()


def test_usage_lists_every_flag_with_examples() -> None:
    text = usage()
    for flag in (
        "--model",
        "--system",
        "--thinking",
        "--thoughts",
        "--no-thoughts",
        "--stream",
        "--no-stream",
        "--temperature",
        "--max-tokens",
        "--new",
        "--chain",
        "--from",
        "--no-store",
        "--background",
        "--agent",
        "--json",
    ):
        assert flag in text
    assert "Examples:" in text
