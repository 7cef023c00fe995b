"""What every shell test asserts of a cell: it succeeded with a Result, or failed as a user should see it.

Imported by name (``from shell_checks import ok, failed``), like ``emulator_testing``.
"""

from __future__ import annotations

from typing import Any

import pytest
from IPython.core.error import UsageError

from gemini_magics.turn import Result


def ok(run: Any) -> Result:
    """The Result of a cell that must have succeeded."""
    assert run.success, f"cell failed: {run.error_in_exec!r}"
    assert isinstance(run.result, Result), run.result
    return run.result


def failed(run: Any, capsys: pytest.CaptureFixture[str], *advice: str, shows: str = "") -> str:
    """Assert the cell failed as the user should see it: one UsageError line, no traceback (and ``shows``
    among what it displayed). Its message."""
    assert not run.success
    error = run.error_in_exec
    assert isinstance(error, UsageError), repr(error)
    message = str(error)
    assert message and "\n" not in message.strip(), message
    for words in advice:
        assert words in message, f"{words!r} not in {message!r}"
    captured = capsys.readouterr()
    shown = captured.out + captured.err
    assert "Traceback" not in shown and 'File "' not in shown, shown
    assert "gemini_magics/" not in shown and "gemini_magics." not in shown, shown
    assert f"UsageError: {message}" in captured.err
    assert shows in captured.out
    return message
