"""Generation controls through real ``%%gemini`` cells against the emulator: ``--seed``, ``--top-p``,
``--stop``, ``--tool-choice``, ``--aspect-ratio``, ``--image-size``, ``--service-tier`` and their
``GeminiMagics`` settings.

Each test checks both sides: the request as the emulator received it over HTTP (where the field sits on
the wire), and the effect the emulator gives it (docs/emulator.md: "Generation controls visible in the
answer", "tool_choice"; the image's pixel size; ``service_tier`` echoed on the interaction).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from shell_checks import failed, ok

from gemini_magics import options
from gemini_magics.emulator import EmulatorServer
from gemini_magics.turn import Result

PROMPT = "Explain the water cycle"
# google-genai 3.6.1 marks generation_config.image_config deprecated (its successor, an image-typed
# response_format, would also restrict the answer to the image): the SDK warns while it validates.
SDK_DEPRECATION = pytest.mark.filterwarnings(r"ignore:warning. \*\* DEPRECATED:DeprecationWarning")
IMAGE_MODEL = "gemini-3.1-flash-image-preview"

FUNCTIONS = '''
calls = []

def get_weather(city: str) -> dict:
    """Current weather for a city."""
    calls.append(("get_weather", city))
    return {"temp": 21, "city": city}

def get_time(city: str) -> str:
    """Local time in a city."""
    calls.append(("get_time", city))
    return "12:00"
'''


def sent(emulator: EmulatorServer, result: Result) -> dict[str, Any]:
    """The create request's body as the emulator received it over HTTP."""
    assert result.id, result
    record = emulator.emulator.store.get(result.id)
    assert record is not None, f"the emulator holds no stored interaction {result.id}"
    return record.request


def config(emulator: EmulatorServer, result: Result) -> dict[str, Any]:
    return sent(emulator, result).get("generation_config") or {}


def answer(kernel: Any, flags: str = "", prompt: str = PROMPT) -> Result:
    """A fresh conversation each time (``--new``), so only the controls change the answer."""
    return ok(kernel.run(f"%%gemini --new {flags}\n{prompt}"))


# -- seed, top_p, stop ------------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", ["--stream", "--no-stream"])
def test_seed_reaches_the_model_and_picks_the_wording(
    kernel: Any, emulator: EmulatorServer, stream: str
) -> None:
    plain = answer(kernel, stream)
    one = answer(kernel, f"{stream} --seed 1")
    two = answer(kernel, f"{stream} --seed 2")
    again = answer(kernel, f"{stream} --seed 1")
    assert config(emulator, one)["seed"] == 1 and config(emulator, two)["seed"] == 2
    assert "seed" not in config(emulator, plain)
    assert len({plain.text, one.text, two.text}) == 3  # each seed its own wording
    assert again.text == one.text  # the same seed, the same answer
    assert "water cycle" in one.text


def test_top_p_reaches_the_model_and_shifts_the_wording(kernel: Any, emulator: EmulatorServer) -> None:
    plain = answer(kernel)
    nucleus = answer(kernel, "--top-p 0.5")
    assert config(emulator, nucleus)["top_p"] == 0.5
    assert nucleus.text != plain.text and "water cycle" in nucleus.text
    assert answer(kernel, "--top-p 0.5").text == nucleus.text


@pytest.mark.parametrize("stream", ["--stream", "--no-stream"])
def test_stop_sequences_end_the_answer(kernel: Any, emulator: EmulatorServer, stream: str) -> None:
    plain = answer(kernel, stream)
    assert "key idea" in plain.text and "short and concrete" in plain.text
    cut = answer(kernel, f'{stream} --stop "key idea" --stop "never there"')
    assert config(emulator, cut)["stop_sequences"] == ["key idea", "never there"]
    assert cut.status == "completed"
    assert plain.text.startswith(cut.text) and "key idea" not in cut.text
    assert cut.text.rstrip().endswith("The")  # right before the earliest stop sequence


# -- tool_choice ------------------------------------------------------------------------------------------


@pytest.fixture
def functions(kernel: Any) -> dict[str, Any]:
    assert kernel.run(FUNCTIONS).success
    return kernel.shell.user_ns


def test_tool_choice_any_makes_the_model_call_a_function(
    kernel: Any, emulator: EmulatorServer, functions: dict[str, Any]
) -> None:
    prompt = "Say hello to Oslo"  # names no function: by default nothing is called
    free = answer(kernel, "--tool get_weather", prompt)
    assert free.function_calls == [] and functions["calls"] == []
    forced = answer(kernel, "--tool get_weather --tool-choice any", prompt)
    assert [c.name for c in forced.function_calls] == ["get_weather"]
    assert functions["calls"] and functions["calls"][0][0] == "get_weather"
    assert forced.status == "completed" and forced.text  # answered after the function's result
    # The follow-up that carried the result went back to "auto": forcing every round would never end.
    follow_up = sent(emulator, forced)
    assert "tool_choice" not in (follow_up.get("generation_config") or {})
    first = emulator.emulator.store.get(follow_up["previous_interaction_id"])
    assert first is not None and first.request["generation_config"]["tool_choice"] == "any"


def test_tool_choice_none_calls_nothing(
    kernel: Any, emulator: EmulatorServer, functions: dict[str, Any]
) -> None:
    result = answer(kernel, "--tool get_weather --tool-choice none", "What is the weather in Oslo?")
    assert config(emulator, result)["tool_choice"] == "none"
    assert result.function_calls == [] and functions["calls"] == []


def test_tool_choice_name_calls_only_that_function(
    kernel: Any, emulator: EmulatorServer, functions: dict[str, Any]
) -> None:
    prompt = "What is the weather and the time in Oslo?"
    both = answer(kernel, "--tool get_weather --tool get_time", prompt)
    assert sorted(c.name for c in both.function_calls) == ["get_time", "get_weather"]
    functions["calls"].clear()
    one = answer(kernel, "--tool get_weather --tool get_time --tool-choice get_time", prompt)
    assert [c.name for c in one.function_calls] == ["get_time"]
    assert [name for name, _ in functions["calls"]] == ["get_time"]
    first = emulator.emulator.store.get(sent(emulator, one)["previous_interaction_id"])
    assert first is not None
    assert first.request["generation_config"]["tool_choice"] == {
        "allowed_tools": {"mode": "any", "tools": ["get_time"]}
    }


# -- images -----------------------------------------------------------------------------------------------


@SDK_DEPRECATION
@pytest.mark.parametrize(
    ("flags", "size"),
    [
        ("", (256, 256)),
        ("--aspect-ratio 16:9", (256, 144)),
        ("--aspect-ratio 9:16 --image-size 2k", (288, 512)),
        ("--image-size 4K", (1024, 1024)),
    ],
)
def test_image_config_sizes_the_image(
    kernel: Any, emulator: EmulatorServer, flags: str, size: tuple[int, int]
) -> None:
    result = answer(kernel, f"-m {IMAGE_MODEL} {flags}", "A lighthouse at dusk")
    assert result.images and result.images[0].size == size
    image_config = config(emulator, result).get("image_config")
    expected = dict(re.findall(r"--(aspect-ratio|image-size) (\S+)", flags))
    wanted = {
        k: v
        for k, v in (
            ("aspect_ratio", expected.get("aspect-ratio")),
            ("image_size", (expected.get("image-size") or "").upper() or None),
        )
        if v
    }
    assert image_config == (wanted or None)


@SDK_DEPRECATION
def test_image_settings_apply_to_image_models_only(kernel: Any, emulator: EmulatorServer) -> None:
    kernel.run("%config GeminiMagics.aspect_ratio = '21:9'")
    kernel.run("%config GeminiMagics.image_size = '2k'")
    image = answer(kernel, f"-m {IMAGE_MODEL}", "A lighthouse at dusk")
    assert config(emulator, image)["image_config"] == {"aspect_ratio": "21:9", "image_size": "2K"}
    assert image.images[0].size == (512, 219)
    text = answer(kernel)  # a text model carries no image config
    assert "image_config" not in config(emulator, text)
    flag_wins = answer(kernel, f"-m {IMAGE_MODEL} --aspect-ratio 1:1", "A lighthouse")
    assert flag_wins.images[0].size == (512, 512)


# -- service tier -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", ["--stream", "--no-stream"])
@pytest.mark.parametrize("tier", options.SERVICE_TIERS)
def test_service_tier_is_sent_and_echoed(
    kernel: Any, emulator: EmulatorServer, stream: str, tier: str
) -> None:
    result = answer(kernel, f"{stream} --service-tier {tier.upper()}", "Hi")
    assert sent(emulator, result)["service_tier"] == tier
    assert "service_tier" not in (sent(emulator, result).get("generation_config") or {})
    assert result.interaction is not None and result.interaction.service_tier == tier


def test_service_tier_reaches_agents(kernel: Any, emulator: EmulatorServer) -> None:
    result = ok(
        kernel.run(
            "%%gemini --research --wait --service-tier flex\n"
            "Summarise quantum sensing [emulator: duration=0.3]"
        )
    )
    assert sent(emulator, result)["service_tier"] == "flex"
    assert "generation_config" not in sent(emulator, result)


# -- notebook-wide settings -------------------------------------------------------------------------------


def test_settings_are_defaults_that_flags_override(kernel: Any, emulator: EmulatorServer) -> None:
    kernel.run("%config GeminiMagics.seed = 2")
    kernel.run("%config GeminiMagics.top_p = 0.25")
    kernel.run("%config GeminiMagics.service_tier = 'Priority'")
    by_setting = answer(kernel)
    assert config(emulator, by_setting).items() >= {"seed": 2, "top_p": 0.25}.items()
    assert sent(emulator, by_setting)["service_tier"] == "priority"
    by_flag = answer(kernel, "--seed 3 --top-p 0.75 --service-tier flex")
    assert config(emulator, by_flag)["seed"] == 3 and config(emulator, by_flag)["top_p"] == 0.75
    assert by_flag.interaction.service_tier == "flex"
    kernel.run("%config GeminiMagics.seed = None")
    kernel.run("%config GeminiMagics.top_p = None")
    kernel.run("%config GeminiMagics.service_tier = ''")
    plain = answer(kernel)
    assert not {"seed", "top_p"} & set(config(emulator, plain))
    assert sent(emulator, plain).get("service_tier") is None


@pytest.mark.parametrize(
    "setting",
    ["top_p = 1.5", "seed = 2**40", "aspect_ratio = '5:5'", "image_size = '8K'", "service_tier = 'gold'"],
)
def test_bad_settings_are_refused(kernel: Any, emulator: EmulatorServer, setting: str) -> None:
    kernel.run(f"%config GeminiMagics.{setting}")
    magics = kernel.shell.magics_manager.registry["GeminiMagics"]
    assert getattr(magics, setting.split(" ")[0]) in (None, "")  # the default stayed
    plain = answer(kernel)
    assert not {"seed", "top_p", "image_config"} & set(config(emulator, plain))


# -- mistakes: one line, nothing sent ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        ("--seed many", "--seed"),
        ("--seed 9999999999", "--seed"),
        ("--top-p 1.5", "--top-p"),
        ('--stop ""', "--stop"),
        ("--aspect-ratio 5:4:3", "--aspect-ratio"),
        ("--image-size 8K", "--image-size"),
        ("--service-tier gold", "--service-tier"),
        ("--tool-choice any", "--tool-choice"),
        ("--tool-choice 'two words' --tools google_search", "--tool-choice"),
        ("--tool get_weather --tool-choice get_time", "get_time"),
        ("--research --seed 3", "agents"),
        ("--agent deep-research-pro-preview-12-2025 --image-size 2K", "agents"),
    ],
)
def test_bad_values_are_one_line_errors(
    kernel: Any, emulator: EmulatorServer, capsys: pytest.CaptureFixture[str], flags: str, words: str
) -> None:
    kernel.run(FUNCTIONS)
    created = len(emulator.emulator.store)
    failed(kernel.run(f"%%gemini {flags}\nWhat is the weather in Oslo?"), capsys, words)
    assert len(emulator.emulator.store) == created  # refused before anything was sent


def test_help_shows_the_controls(kernel: Any, capsys: pytest.CaptureFixture[str]) -> None:
    kernel.line("help")
    shown = capsys.readouterr().out
    for flag in (
        "--seed",
        "--top-p",
        "--stop",
        "--tool-choice",
        "--aspect-ratio",
        "--image-size",
        "--service-tier",
    ):
        assert re.search(rf"{flag} \w", shown), flag
    for value in (
        *options.ASPECT_RATIOS,
        *options.IMAGE_SIZES,
        *options.SERVICE_TIERS,
        *options.TOOL_CHOICES,
    ):
        assert value in shown, value
