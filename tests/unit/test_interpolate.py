"""Tests for prompt interpolation: references substitute, pasted code survives, failures name themselves."""

from __future__ import annotations

import random
import time
from types import SimpleNamespace
from typing import Any

import pytest

from gemini_magics.interpolate import (
    DEFAULT_MAX_CHARS,
    InterpolationError,
    interpolate,
    interpolate_text,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 32
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 16


class FakeImage:
    """Duck-typed like a PIL Image: a ``save`` method and a ``(width, height)`` size."""

    size = (4, 3)

    def save(self, fp: Any, format: str | None = None) -> None:
        pass

    def __str__(self) -> str:
        raise AssertionError("an image must never be stringified")


class FakeFrame:
    """Duck-typed like a pandas DataFrame: ``to_string(max_rows=, max_cols=)`` and an ``index``."""

    index = range(3)

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def to_string(self, max_rows: int | None = None, max_cols: int | None = None) -> str:
        self.calls.append({"max_rows": max_rows, "max_cols": max_cols})
        return "   city  population\n0  Oslo      709000"

    def __str__(self) -> str:
        return "elided...frame"


class FakeSeries:
    """Like a pandas Series: ``to_string`` takes ``max_rows`` but not ``max_cols``."""

    index = range(2)

    def to_string(self, max_rows: int | None = None) -> str:
        return f"0    1\n1    2  (max_rows={max_rows})"


class Exploding:
    @property
    def boom(self) -> int:
        raise RuntimeError("sensor\noffline")

    def __getitem__(self, key: Any) -> Any:
        raise TypeError("no indexing here")


class BadStr:
    def __str__(self) -> str:
        raise ValueError("cannot render")


def make_namespace() -> dict[str, Any]:
    item = SimpleNamespace(name="third", tags=["x", "y"])
    return {
        "name": "Ada",
        "n": 42,
        "seq": [10, 20, 30],
        "mapping": {"key": "value", "with space": "spaced", 3: "three", "nested": {"deep": [1, {"k": "v"}]}},
        "obj": SimpleNamespace(attr="attribute", child=SimpleNamespace(leaf="leaf")),
        "cfg": SimpleNamespace(items=[SimpleNamespace(name="a"), SimpleNamespace(name="b"), item]),
        "df": SimpleNamespace(columns=["city", "population"]),
        "_": "last output",
        "__": "second last",
        "_i1": "x = 1",
        "_oh": {1: "one"},
        "données": "unicode ok",
        # Names that also occur in the pasted-code samples: they must still not be substituted there.
        "a": "A!",
        "b": "B!",
        "x": "X!",
        "HOME": "/home/ada",
        "red": "RED!",
        "color": "COLOR!",
    }


# ---------------------------------------------------------------------------------------------------------
# Substitution of references


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("Hello {name}!", "Hello Ada!"),
        ("{n}", "42"),
        ("{obj.attr}", "attribute"),
        ("{obj.child.leaf}", "leaf"),
        ("{seq[0]} {seq[2]}", "10 30"),
        ("{seq[-1]} {seq[-3]}", "30 10"),
        ("{mapping['key']}", "value"),
        ('{mapping["key"]}', "value"),
        ("{mapping['with space']}", "spaced"),
        ("{mapping[3]}", "three"),
        ("{mapping['nested']['deep'][1][\"k\"]}", "v"),
        ("{df.columns[0]}", "city"),
        ("{cfg.items[2].name}", "third"),
        ("{cfg.items[-1].tags[-2]}", "x"),
        ("{_} / {__} / {_i1} / {_oh[1]}", "last output / second last / x = 1 / one"),
        ("{données}", "unicode ok"),
        ("{name}{n}{name}", "Ada42Ada"),
        ("line1\n{name}\nline3", "line1\nAda\nline3"),
    ],
)
def test_references_are_substituted(prompt: str, expected: str) -> None:
    assert interpolate_text(prompt, make_namespace()) == expected
    assert interpolate(prompt, make_namespace()) == [expected]


def test_substituted_values_are_not_scanned_again() -> None:
    ns = {"a": "{b} and {{c}} and {missing}", "b": "B"}
    assert interpolate_text("<{a}>", ns) == "<{b} and {{c}} and {missing}>"


def test_text_without_braces_is_returned_as_is() -> None:
    assert interpolate("just text", {}) == ["just text"]
    assert interpolate("", {}) == []
    assert interpolate_text("", {}) == ""


def test_namespace_can_be_any_mapping() -> None:
    from types import MappingProxyType

    assert interpolate_text("{k}", MappingProxyType({"k": "v"})) == "v"


# ---------------------------------------------------------------------------------------------------------
# Brace escapes


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("{{name}}", "{name}"),
        ("{{undefined_name}}", "{undefined_name}"),  # the escape suggested by the error message
        ("{{obj.attr}}", "{obj.attr}"),
        ("{{seq[-1]}}", "{seq[-1]}"),
        ("{{mapping['key']}}", "{mapping['key']}"),
        ("{{{name}}}", "{Ada}"),  # as in str.format: literal braces around a value
        ("{{{{name}}}}", "{{name}}"),
        ("{{name}} is {name}", "{name} is Ada"),
        ("{{name}", "{Ada"),  # a surplus brace on one side is plain text
        ("{name}}", "Ada}"),
    ],
)
def test_doubled_braces_around_a_reference_are_literal(prompt: str, expected: str) -> None:
    assert interpolate_text(prompt, make_namespace()) == expected


# ---------------------------------------------------------------------------------------------------------
# Pasted code survives byte for byte (with names from the samples defined, and with an empty namespace)

PASTED_CODE = [
    # dict literals and JSON, including nested objects ending in "}}" that format_map would corrupt
    '{"a": 1}',
    "{'a': 1, 'b': [1, 2]}",
    'data = {"a": {"b": {"c": [1, 2, {"d": null}]}}}',
    '{"a":{"b":1}}',
    '[{"id": 1, "tags": {}}, {"id": 2, "tags": {"x": true}}]',
    "{a: 1, b: 2}",
    "const o = { a, b };",
    # f-strings and format strings
    'f"{x!r:>10}"',
    'f"{x:.2f} {a!s} {b=}"',
    'f"{x + 1} {a[0]:>10} {a!r}"',
    '"{}".format(1)',
    '"{0} {1}".format(a, b)',
    '"{{}}".format()',
    '"{:>10}"',
    'println!("{}", x); format!("{{}}")',
    # set literals and comprehensions
    "{1, 2}",
    "{a, b}",
    "{x for x in range(3)}",
    "{k: v for k, v in d.items()}",
    # CSS
    "a { color: red }",
    ".btn{color:red;}",
    "@media (max-width: 600px) { .a { display: none } }",
    # LaTeX
    r"\frac{a}{b}",
    r"$\frac{x}{\sqrt{a}}$ and \sqrt[3]{x}",
    r"\begin{align} x &= \mathbf{a}^{b} \end{align}",
    r"e^{x} + \left\{ a \right\}",
    r"\textbf{color}",
    # shell and templates
    "${HOME}",
    'echo "${HOME}/bin" ${x:-default} ${#a}',
    "awk '{print $1}' file",
    "${{x}} ${{ github.ref }}",
    "{{ name }} {% for x in y %}{# note #}",
    # other code
    "int main() { return 0; }",
    "func f() struct{}{ return struct{}{} }",
    r"\d{3}-\d{4} and a{2,3}",
    r"\{x\} and \{a}",
    "if (a) {\n    b();\n}",
    # unbalanced and not-a-reference groups
    "{",
    "}",
    "{{",
    "}}",
    "{{{",
    "}{",
    "{x",
    "x}",
    "{ x }",
    "{x.}",
    "{x..a}",
    "{.x}",
    "{x[}",
    "{x[0}",
    "{x[a]}",
    "{x()}",
    "{x+1}",
    "{-x}",
    "{0}",
    "{1x}",
    "{x['a' ]}",
    "{x[1.5]}",
    "{x['it\\'s']}",
    "{}",
    "{x\n}",
]


@pytest.mark.parametrize("namespace", [make_namespace(), {}], ids=["names-defined", "empty-namespace"])
@pytest.mark.parametrize("code", PASTED_CODE)
def test_pasted_code_survives_byte_for_byte(code: str, namespace: dict[str, Any]) -> None:
    assert interpolate_text(code, namespace) == code
    assert interpolate(code, namespace) == [code]


def test_pasted_code_around_a_reference_survives() -> None:
    prompt = 'Review this for {name}:\n{"a": {"b": 1}}\n.x { color: red }\n\\frac{a}{b}'
    assert interpolate_text(prompt, make_namespace()) == prompt.replace("{name}", "Ada")


# ---------------------------------------------------------------------------------------------------------
# Markdown code is left alone


@pytest.mark.parametrize(
    "prompt",
    [
        "Explain:\n```python\ndef f():\n    return {undefined}\n```\n",
        "```\n{undefined} {{name}} {name}\n```",
        "~~~\n{undefined}\n~~~",
        "````md\n```\n{undefined}\n```\n````",  # a longer fence contains a shorter one
        "   ```\n{undefined}\n   ```",  # fences may be indented up to three spaces
        "```\nnever closed {undefined}\n\n{name}",  # an unclosed fence runs to the end
        "Use `{undefined}` here",
        "Use ``{undefined} with ` inside`` here",
        "`{name}` and `{{name}}`",
        "`a\n{undefined}`",  # a code span may cross a line break
    ],
)
def test_markdown_code_is_left_alone(prompt: str) -> None:
    assert interpolate_text(prompt, make_namespace()) == prompt


def test_references_outside_code_are_still_substituted() -> None:
    prompt = "Hi {name}\n```\n{name} {undefined}\n```\nand `{n}` vs {n}"
    assert (
        interpolate_text(prompt, make_namespace()) == "Hi Ada\n```\n{name} {undefined}\n```\nand `{n}` vs 42"
    )


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("a ``` b {name}", "a ``` b Ada"),  # unclosed backtick runs are text
        ("`` a ` {name}", "`` a ` Ada"),  # runs of different lengths do not pair
        ("`a\n\n{name}`", "`a\n\nAda`"),  # code spans do not cross a blank line
        ("```x``` {name}", "```x``` Ada"),  # a fence line with backticks in it is inline code
        ("    ```\n{name}", "    ```\nAda"),  # four spaces: not a fence
        ("~~~~\n{x}\n~~~\n{name}\n~~~~\n{name}", "~~~~\n{x}\n~~~\n{name}\n~~~~\nAda"),
    ],
)
def test_markdown_code_detection_edges(prompt: str, expected: str) -> None:
    assert interpolate_text(prompt, make_namespace()) == expected


# ---------------------------------------------------------------------------------------------------------
# f-strings (and t-strings) are code: their braces are left alone, whether or not the names exist

F_STRINGS = [
    "What does f'{x}' print?",
    'F"{x!r}"',
    r"rf'{x}\d' and fr'{x}' and Rf'{x}' and FR'{x}'",
    "t'{x}' and T\"{name}\" and tr'{x}'",
    "f'{{x}}' and f'{x} {{literal}} {name}'",  # the f-string's own escapes stay doubled
    'f"""\n{x}\n{name:>{n}}\n"""',  # triple-quoted, across lines
    "f'''{x} ' '' {name}'''",
    r"f'it\'s {x}'",  # an escaped quote does not end it
    "print(f'{x}', f\"{a}\")",
    "[f'{a}', f'{b}']",
    "x = f'{x}';y=f'{n}'",
    "`f'{x}'`",  # in inline code too
    "```python\nprint(f'{x}')\n```",
]


@pytest.mark.parametrize("namespace", [make_namespace(), {}], ids=["names-defined", "empty-namespace"])
@pytest.mark.parametrize("code", F_STRINGS)
def test_f_string_literals_are_left_alone(code: str, namespace: dict[str, Any]) -> None:
    assert interpolate_text(code, namespace) == code


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("What does f'{x}' print for {name}?", "What does f'{x}' print for Ada?"),
        ("chef's {name}'s", "chef's Ada's"),  # a word before the quote: no prefix
        ("the 'f' key, {name}'s", "the 'f' key, Ada's"),  # a quoted letter f is no prefix
        ("if'{name}'", "if'Ada'"),  # "if" is a word, not an f prefix
        ("b'{name}' u'{name}' '{name}'", "b'Ada' u'Ada' 'Ada'"),  # other strings: braces are text
        ("f'{x} unclosed {name}", "f'X! unclosed Ada"),  # an unclosed literal is prose
        ("f'{x}\n' {name}", "f'X!\n' Ada"),  # a single-quoted literal ends on its line
        (r"\f'{name}'", r"\f'Ada'"),  # a backslash before the f: LaTeX-like, not a prefix
        ("f'''{x}\n never closed {name}", "f'''X!\n never closed Ada"),
    ],
)
def test_what_is_not_an_f_string_still_interpolates(prompt: str, expected: str) -> None:
    assert interpolate_text(prompt, make_namespace()) == expected


def test_megabyte_of_quotes_is_fast() -> None:
    # Every quote is a place a literal may start: a quote-heavy prompt must stay linear.
    prompt = ("Don't say 'f' or f'{x} and \"quotes\" {n} " * 25_000)[:1_000_000]
    assert _seconds(lambda: interpolate(prompt, make_namespace())) < 1.0
    unclosed = "f'''" + "'' {" * 300_000
    assert _seconds(lambda: interpolate(unclosed, {})) < 1.0


# ---------------------------------------------------------------------------------------------------------
# Errors


@pytest.mark.parametrize(
    ("prompt", "message"),
    [
        ("{foo}", "name 'foo' is not defined in the notebook (write {{foo}} for literal braces)"),
        ("say {foo.bar}", "name 'foo' is not defined in the notebook (write {{foo.bar}} for literal braces)"),
        ("{foo[0]}", "name 'foo' is not defined in the notebook (write {{foo[0]}} for literal braces)"),
        ("def f(): return {y}", "name 'y' is not defined in the notebook (write {{y}} for literal braces)"),
        (
            "{_missing}",
            "name '_missing' is not defined in the notebook (write {{_missing}} for literal braces)",
        ),
    ],
)
def test_unknown_name_is_an_error_naming_it(prompt: str, message: str) -> None:
    with pytest.raises(InterpolationError) as info:
        interpolate(prompt, make_namespace())
    assert str(info.value) == message
    assert "\n" not in str(info.value)
    assert isinstance(info.value, ValueError)


def test_error_carries_the_reference() -> None:
    with pytest.raises(InterpolationError) as info:
        interpolate_text("{foo.bar}", {})
    assert info.value.reference == "foo.bar"


@pytest.mark.parametrize(
    ("prompt", "expected_start", "reason"),
    [
        ("{seq[99]}", "{seq[99]}: ", "index out of range"),
        ("{seq[-4]}", "{seq[-4]}: ", "index out of range"),
        ("{df.nope}", "{df.nope}: ", "has no attribute 'nope'"),
        (
            "{cfg.items[2].nope}",
            "{cfg.items[2].nope}: ",
            "cfg.items[2] (SimpleNamespace) has no attribute 'nope'",
        ),
        ("{mapping['nope']}", "{mapping['nope']}: ", "key 'nope' not found in mapping (dict)"),
        ('{mapping["nope"]}', '{mapping["nope"]}: ', "key 'nope' not found"),
        ("{mapping[7]}", "{mapping[7]}: ", "key 7 not found"),
        ("{n[0]}", "{n[0]}: ", "n[0] raised TypeError"),
        ("{seq['a']}", "{seq['a']}: ", "TypeError"),
        ("{bomb.boom}", "{bomb.boom}: ", "reading bomb.boom raised RuntimeError: sensor offline"),
        ("{bomb[0]}", "{bomb[0]}: ", "raised TypeError: no indexing here"),
        ("{bad}", "{bad}: ", "str() raised ValueError: cannot render"),
        ("{obj.__class__}", "{obj.__class__}: ", "dunder"),
        ("{seq[" + "9" * 5000 + "]}", "{seq[", "too long"),
    ],
)
def test_failing_attribute_or_index_names_the_reference_and_reason(
    prompt: str, expected_start: str, reason: str
) -> None:
    ns = make_namespace() | {"bomb": Exploding(), "bad": BadStr()}
    with pytest.raises(InterpolationError) as info:
        interpolate(prompt, ns)
    message = str(info.value)
    assert message.startswith(expected_start)
    assert reason in message
    assert "\n" not in message


def test_index_error_mentions_length() -> None:
    with pytest.raises(
        InterpolationError, match=r"^\{seq\[99\]\}: index out of range: seq is a list of length 3$"
    ):
        interpolate_text("{seq[99]}", make_namespace())


def test_first_error_wins_and_nothing_is_half_done() -> None:
    with pytest.raises(InterpolationError, match="'second'"):
        interpolate_text("{name} {second} {third}", make_namespace())


# ---------------------------------------------------------------------------------------------------------
# Rendering values


def test_dataframe_like_values_use_capped_to_string() -> None:
    frame = FakeFrame()
    assert (
        interpolate_text("Data:\n{frame}", {"frame": frame})
        == "Data:\n   city  population\n0  Oslo      709000"
    )
    assert frame.calls == [{"max_rows": 100, "max_cols": 50}]


def test_series_like_values_fall_back_to_max_rows_only() -> None:
    assert interpolate_text("{s}", {"s": FakeSeries()}) == "0    1\n1    2  (max_rows=100)"


def test_objects_with_to_string_but_no_index_use_str() -> None:
    value = SimpleNamespace(to_string=lambda: "to_string!")
    assert interpolate_text("{v}", {"v": value}) == str(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, "None"), (3.5, "3.5"), ([1, "a"], "[1, 'a']"), ({"k": 1}, "{'k': 1}"), (b"plain", "b'plain'")],
)
def test_other_values_use_str(value: Any, expected: str) -> None:
    assert interpolate_text("{v}", {"v": value}) == expected


def test_long_values_are_truncated_with_a_marker() -> None:
    text = interpolate_text("<{v}>", {"v": "x" * 30_000})
    assert text == "<" + "x" * DEFAULT_MAX_CHARS + "… [truncated 10000 characters]>"


def test_max_chars_is_configurable_and_applies_per_value() -> None:
    ns = {"v": "abcdefghij", "w": "0123456789"}
    assert (
        interpolate_text("{v}|{w}", ns, max_chars=4)
        == "abcd… [truncated 6 characters]|0123… [truncated 6 characters]"
    )
    assert interpolate_text("{v}", ns, max_chars=10) == "abcdefghij"
    assert interpolate("{v}", ns, max_chars=0) == ["… [truncated 10 characters]"]
    with pytest.raises(ValueError, match="max_chars"):
        interpolate("{v}", ns, max_chars=-1)


def test_the_prompt_itself_is_not_truncated() -> None:
    prompt = "y" * 50_000 + "{v}"
    assert interpolate_text(prompt, {"v": "!"}, max_chars=10) == "y" * 50_000 + "!"


# ---------------------------------------------------------------------------------------------------------
# Images


def test_image_objects_become_separate_parts() -> None:
    image = FakeImage()
    parts = interpolate("Describe {img} please", {"img": image})
    assert parts == ["Describe ", image, " please"]
    assert parts[1] is image


@pytest.mark.parametrize("data", [PNG, JPEG, WEBP, bytearray(PNG), memoryview(JPEG)], ids=repr)
def test_image_bytes_become_separate_parts(data: Any) -> None:
    parts = interpolate("{img}", {"img": data})
    assert len(parts) == 1
    assert parts[0] is data


def test_consecutive_text_is_merged_and_adjacent_images_stay_apart() -> None:
    one, two = FakeImage(), PNG
    parts = interpolate("a {n} b {one}{two} c {{n}} d", {"n": 1, "one": one, "two": two})
    assert parts == ["a 1 b ", one, two, " c {n} d"]
    assert all(part != "" for part in parts)


def test_image_reached_through_a_chain_and_in_braces() -> None:
    image = FakeImage()
    ns = {"album": SimpleNamespace(photos=[image])}
    assert interpolate("{{{album.photos[0]}}}", ns) == ["{", image, "}"]


def test_interpolate_text_refuses_images() -> None:
    with pytest.raises(InterpolationError, match=r"^\{img\}: is an image \(FakeImage\)"):
        interpolate_text("see {img}", {"img": FakeImage()})
    with pytest.raises(InterpolationError, match="is an image"):
        interpolate_text("see {img}", {"img": PNG})


@pytest.mark.parametrize(
    "value",
    [
        FakeImage,  # the class, not an image
        SimpleNamespace(save=lambda: None, size=12),  # size is not (width, height)
        SimpleNamespace(size=(1, 2)),  # no save method
        b"GIF-ish not an image",
    ],
    ids=["class", "int-size", "no-save", "bytes"],
)
def test_image_lookalikes_are_text(value: Any) -> None:
    assert interpolate("{v}", {"v": value}) == [str(value)]


# ---------------------------------------------------------------------------------------------------------
# Robustness and speed


def test_random_brace_soup_returns_or_raises_interpolation_error_only() -> None:
    rng = random.Random(0)
    # Single characters, plus whole groups so that references (good, bad and escaped) are common too.
    alphabet = [
        *"{}{}[]'\".ab_x0-1 `\n$\\~^:!",
        "{a}",
        "{b.x}",
        "{a[1]['x']}",
        '{a[-1]["x"]}',
        "{x}",
        "{nope}",
    ]
    alphabet += ["{a[9]}", "{b.y}", "{{a}}", "```\n", "\\frac"]
    ns: dict[str, Any] = {"a": [1, {"x": "y"}], "b": SimpleNamespace(x="bx"), "_": "u", "x": PNG}
    outcomes = {"ok": 0, "error": 0}
    for _ in range(2_000):
        prompt = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        try:
            parts = interpolate(prompt, ns)
        except InterpolationError as exc:
            assert "\n" not in str(exc)
            outcomes["error"] += 1
        else:
            assert all(isinstance(part, str) and part for part in parts if not isinstance(part, bytes))
            outcomes["ok"] += 1
    assert outcomes["ok"] > 100 and outcomes["error"] > 100  # both paths were exercised


def test_brace_free_megabyte_is_fast() -> None:
    prompt = ("All work and no play makes Jack a dull boy. " * 25_000)[:1_000_000]
    best = min(_seconds(lambda: interpolate(prompt, make_namespace())) for _ in range(5))
    assert best < 0.010
    assert interpolate(prompt, {}) == [prompt]


def test_megabyte_with_pathological_braces_is_linear() -> None:
    # A huge unterminated word after "{" once cost a backtracking scan per character.
    prompt = "{" + "a" * 1_000_000
    assert _seconds(lambda: interpolate(prompt, {})) < 1.0


def _seconds(run: Any) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start
