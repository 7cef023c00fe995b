"""Tools in the fake model: Google Search, URL context, code execution (really run) and function calls."""

from __future__ import annotations

import asyncio
import html
import json
import os
import re
import sys
import tempfile
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from . import controls, filesearch, grounding, mcp_tools
from .engine import Emit, Finish

if TYPE_CHECKING:
    from .turn import Turn

CODE_TIME_LIMIT = 10.0  # seconds a code_execution run may take before it is killed


def _declared(turn: Turn, kind: str) -> list[dict[str, Any]]:
    return [t for t in turn.tools if isinstance(t, dict) and t.get("type") == kind]


async def run_builtin_tools(turn: Turn) -> AsyncIterator[Emit | Finish]:
    """The built-in tools the request declares, in the order the service runs them."""
    for emit in grounding.processing(turn):  # agentic video analysis comes before any tool
        yield emit
    if _declared(turn, "google_search"):
        for emit in google_search(turn):
            yield emit
    for emit in filesearch.run(turn):  # retrieval from the emulator's file search stores
        yield emit
    urls = re.findall(r"https?://[^\s)>\]\"']+", turn.prompt)
    if unsafe(turn):
        urls += UNSAFE_URLS
    if _declared(turn, "url_context") and urls:
        for emit in url_context(turn, urls):
            yield emit
    if _declared(turn, "code_execution"):
        async for emit in code_execution(turn):
            yield emit
    if _declared(turn, "mcp_server"):  # really called over MCP; a Finish when a server fails mid-run
        async for item in mcp_tools.run_mcp_servers(turn, arguments_for):
            yield item
    for emit in grounding.run(turn):  # google_maps, retrieval, tool_search (grounding.py)
        yield emit


# -- Google Search ----------------------------------------------------------------------------------

_SOURCES = [
    ("Wikipedia", "https://en.wikipedia.org/wiki/{slug}"),
    ("Encyclopaedia Britannica", "https://www.britannica.com/topic/{slug}"),
    ("Google Blog", "https://blog.google/search/?q={query}"),
]


# ``unsafe_html``: what the tools return is hostile too. Each payload would set ``window.__gm_pwned`` if it
# ever became live HTML or a followed link (tests/browser/test_lab_security.py).
UNSAFE_SOURCES = [
    {
        "title": "<img src=x onerror=\"window.__gm_pwned = 'source title'\">Poisoned source",
        "url": "javascript:window.__gm_pwned='source url'",
    },
    {
        "title": "<script>window.__gm_pwned = 'source script'</script>",
        "url": " JaVaScRiPt:window.__gm_pwned=1",
    },
    {"title": "Data source", "url": "data:text/html,<script>parent.__gm_pwned='data'</script>"},
    {"title": "Quoted source", "url": 'https://example.com/"onmouseover="window.__gm_pwned=1"x="'},
    # JupyterLab puts TeX back into the HTML after rendering the Markdown: this one would end the href.
    {"title": "Math source", "url": 'https://example.com/$"onclick="window.__gm_pwned=1;//$'},
]
UNSAFE_URLS = [
    "javascript:window.__gm_pwned='url context'",
    'https://example.com/"><img src=x onerror="window.__gm_pwned=\'url context img\'">',
    "https://example.com/$\"onclick=\"window.__gm_pwned='url context math';//$",
]


def unsafe(turn: Turn) -> bool:
    return bool(turn.directives.get("unsafe_html"))


def search_query(turn: Turn) -> str:
    words = [w.strip(".,:;!?\"'()") for w in turn.prompt.split()]
    return " ".join(w for w in words if w)[:80] or "query"


def sources_for(query: str) -> list[dict[str, str]]:
    """Plausible search results for ``query``: titles and URLs, stable for the same query."""
    slug = "_".join(w.capitalize() for w in re.findall(r"[A-Za-z0-9]+", query)[:4]) or "Search"
    q = "+".join(re.findall(r"[A-Za-z0-9]+", query)[:6])
    return [
        {"title": f"{slug.replace('_', ' ')} - {site}", "url": url.format(slug=slug, query=q)}
        for site, url in _SOURCES
    ]


def turn_sources(turn: Turn, query: str) -> list[dict[str, str]]:
    """The search results of this turn: ``sources_for(query)``, and hostile ones with ``unsafe_html``."""
    return sources_for(query) + (UNSAFE_SOURCES if unsafe(turn) else [])


def google_search(turn: Turn) -> list[Emit]:
    query = search_query(turn)
    call_id = turn.new_id("search")
    queries = [query, "<img src=x onerror=\"window.__gm_pwned = 'query'\">"] if unsafe(turn) else [query]
    call = {"type": "google_search_call", "id": call_id, "arguments": {"queries": queries}}
    chips = "".join(
        f'<a class="chip" href="{html.escape(s["url"])}">{html.escape(s["title"])}</a>'
        for s in turn_sources(turn, query)
    )
    if unsafe(turn):  # a chip as a careless service might send it: its label is markup
        chips += '<a href="javascript:window.__gm_pwned=1"><img src=x onerror="window.__gm_pwned=1">Chip</a>'
    result = {
        "type": "google_search_result",
        "call_id": call_id,
        "result": [{"search_suggestions": f'<div class="carousel">{chips}</div>'}],
    }
    turn.notes.append(("search", query))
    # As the service streams it: the queries in the call's delta; the result's delta carries only
    # is_error, the links reach the client through the answer's url_citation annotations and ``get``.
    return [grounding.call_emit(call), grounding.result_emit(result, {"is_error": False})]


def cited_text(turn: Turn, text: str) -> dict[str, Any]:
    """A text block that cites the search sources with ``url_citation`` annotations on its markers."""
    query = next((value for kind, value in turn.notes if kind == "search"), None)
    if query is None:
        return filesearch.cite(turn, {"type": "text", "text": text})
    sources = turn_sources(turn, query)
    text = text.rstrip() + "\n\nSources: " + ", ".join(f"[{i}]" for i in range(1, len(sources) + 1))
    annotations = []
    for number, source in enumerate(sources, 1):
        start = len(text[: text.rindex(f"[{number}]")].encode("utf-8"))  # offsets in UTF-8 bytes
        annotations.append(
            {
                "type": "url_citation",
                "url": source["url"],
                "title": source["title"],
                "start_index": start,
                "end_index": start + len(f"[{number}]"),
            }
        )
    return filesearch.cite(turn, {"type": "text", "text": text, "annotations": annotations})


# -- URL context -------------------------------------------------------------------------------------


def url_context(turn: Turn, urls: list[str]) -> list[Emit]:
    call_id = turn.new_id("url")
    call = {"type": "url_context_call", "id": call_id, "arguments": {"urls": urls}}
    statuses = [{"url": u, "status": "error" if "invalid" in u or "404" in u else "success"} for u in urls]
    result = {"type": "url_context_result", "call_id": call_id, "result": statuses}
    fetched = [s["url"] for s in statuses if s["status"] == "success"]
    turn.notes.append(("url", ", ".join(fetched) or "none of the URLs could be read"))
    # Streamed as the service streams server tools: a bare start, then the fields in a delta of the type.
    return [grounding.call_emit(call), grounding.result_emit(result, {"result": statuses})]


# -- code execution ---------------------------------------------------------------------------------


def code_for(prompt: str) -> str:
    """The Python the fake model writes for ``prompt``: pasted code, or a small program it recognises."""
    fenced = re.search(r"```(?:python|py)?\n(.*?)```", prompt, re.DOTALL)
    if fenced:
        return fenced.group(1).strip() + "\n"
    lower = prompt.lower()
    count = int(m.group(0)) if (m := re.search(r"\d+", prompt)) else 10
    if "prime" in lower:
        return (
            f"primes = []\nn = 2\nwhile len(primes) < {count}:\n"
            "    if all(n % p for p in primes if p * p <= n):\n        primes.append(n)\n    n += 1\n"
            f"print(f'The first {count} primes sum to {{sum(primes)}}')\n"
        )
    if "fibonacci" in lower:
        return (
            f"a, b = 0, 1\nseq = []\nfor _ in range({count}):\n    seq.append(a)\n    a, b = b, a + b\n"
            "print(seq)\n"
        )
    expression = re.search(r"\d[\d\s.+\-*/%()]*[+\-*/%][\d\s.+\-*/%()]*\d", prompt)
    if expression:
        return f"print({expression.group(0).strip()})\n"
    return f"text = {prompt!r}\nprint(len(text.split()), 'words')\n"


async def run_python(code: str, time_limit: float | None = None) -> tuple[str, bool]:
    """Run ``code`` in a separate, isolated interpreter; (output, is_error)."""
    if time_limit is None:  # read at call time, so the limit can be changed while the server runs
        time_limit = CODE_TIME_LIMIT
    with tempfile.TemporaryDirectory(prefix="gm-code-") as workdir:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-I",
            "-c",
            code,
            cwd=workdir,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={"PATH": os.environ.get("PATH", ""), "PYTHONIOENCODING": "utf-8"},
        )
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), time_limit)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            return f"Execution timed out after {time_limit:g} seconds.", True
        except asyncio.CancelledError:
            proc.kill()
            raise
    return out.decode("utf-8", "replace"), proc.returncode != 0


async def code_execution(turn: Turn) -> AsyncIterator[Emit]:
    code = code_for(turn.prompt)
    call_id = turn.new_id("code")
    arguments = {"code": code, "language": "python"}
    yield grounding.call_emit({"type": "code_execution_call", "id": call_id, "arguments": arguments})
    output, failed = await run_python(code)
    result = {"type": "code_execution_result", "call_id": call_id, "result": output, "is_error": failed}
    turn.notes.append(("code_error" if failed else "code", output.strip()))
    yield grounding.result_emit(result, {"result": output, "is_error": failed})


# -- function calling -------------------------------------------------------------------------------


def function_calls_for(turn: Turn) -> list[dict[str, Any]]:
    """``function_call`` steps for every declared function the prompt asks for (parallel calls)."""
    functions = grounding.callable_functions(turn, [f for f in _declared(turn, "function") if f.get("name")])
    allowed = controls.permitted(turn, [f["name"] for f in functions])  # tool_choice and allowed_tools
    functions = [f for f in functions if f["name"] in allowed]
    if not functions:
        return []
    words = set(re.findall(r"[a-z0-9]+", turn.prompt.lower()))
    chosen = controls.settle(turn, functions, [f for f in functions if _relevant(f, words)])
    places = _places(turn.prompt)
    calls: list[tuple[str, dict[str, Any]]] = []
    for f in chosen:
        arguments = arguments_for(f.get("parameters") or {}, turn.prompt)
        # "in Paris and in Oslo": one call per place, in parallel, as a model does.
        key = next((k for k, v in arguments.items() if places and _first_place(v) == places[0]), None)
        if key is None:
            calls.append((f["name"], arguments))
        else:
            calls += [(f["name"], dict(arguments, **{key: place})) for place in places]
    return [{"type": "function_call", "id": turn.new_id("call"), "name": n, "arguments": a} for n, a in calls]


_PLACE = r"[A-Z][\w-]*(?: [A-Z][\w-]*)*"
_PLACE_LIST = re.compile(
    rf"\b(?:in|for|of|at|to|from)\s+({_PLACE}(?:(?:,\s*|,?\s+and\s+)(?:in\s+)?{_PLACE})+)"
)


def _places(prompt: str) -> list[str]:
    """The places a prompt lists after a preposition ("in Paris and in Oslo", "for Rome, Oslo and Lima")."""
    found = _PLACE_LIST.search(prompt)
    if not found:
        return []
    return [p for p in re.split(r",\s*(?:and\s+)?(?:in\s+)?|\s+and\s+(?:in\s+)?", found.group(1)) if p]


def _first_place(value: Any) -> str | None:
    return value.split(",")[0].strip() if isinstance(value, str) else None


def _relevant(function: dict[str, Any], words: set[str]) -> bool:
    name_words = set(re.findall(r"[a-z0-9]+", re.sub(r"([a-z])([A-Z])", r"\1_\2", function["name"]).lower()))
    name_words -= {"get", "set", "do", "run", "make", "the", "a"}
    return bool(name_words & words) or function["name"].lower() in words


def arguments_for(schema: dict[str, Any], prompt: str) -> dict[str, Any]:
    """Arguments that fit the parameter schema, taken from the prompt where it says them."""
    props: dict[str, Any] = schema.get("properties") or {}
    required = set(schema.get("required") or props)
    capitalised = re.findall(r"\b(?:in|for|of|at|to|from)\s+([A-Z][\w-]*(?:[ ,]+[A-Z][\w-]*)*)", prompt)
    quoted = re.findall(r"[\"']([^\"']+)[\"']", prompt)
    numbers = re.findall(r"-?\d+(?:\.\d+)?", prompt)
    args: dict[str, Any] = {}
    for name, prop in props.items():
        explicit = re.search(rf"\b{re.escape(name)}\s*[=:]\s*([\w.\-]+)", prompt)
        kind = prop.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "string")
        if "enum" in prop:
            args[name] = next((v for v in prop["enum"] if str(v).lower() in prompt.lower()), prop["enum"][0])
        elif kind in ("integer", "number"):
            raw = explicit.group(1) if explicit else (numbers.pop(0) if numbers else None)
            if raw is None and name not in required:
                continue
            value = float(raw or 1)
            args[name] = int(value) if kind == "integer" else value
        elif kind == "boolean":
            args[name] = True
        elif kind == "array":
            args[name] = quoted or capitalised or [prompt.split()[0] if prompt.split() else "item"]
        elif kind == "object":
            args[name] = arguments_for(prop, prompt)
        elif explicit:
            args[name] = explicit.group(1)
        elif quoted:
            args[name] = quoted.pop(0)
        elif capitalised:
            args[name] = capitalised.pop(0)
        elif name in required:
            args[name] = " ".join(prompt.split()[-3:]) or name
    return args


def answer_from_results(turn: Turn, results: list[dict[str, Any]]) -> str:
    """The model's reply once the client has sent ``function_result``s back."""
    lines = []
    for result in results:
        name = result.get("name") or result.get("call_id")
        value = result.get("result")
        shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        if result.get("is_error"):
            lines.append(f"- `{name}` failed: {shown}")
        else:
            lines.append(f"- `{name}` returned: {shown}")
    return "Here is what the tools told me:\n\n" + "\n".join(lines)


def notes_text(turn: Turn) -> str:
    """The answer when built-in tools ran: what they found, in Markdown."""
    out = []
    for kind, value in turn.notes:
        if kind == "code" and value and "\n" not in value and "`" not in value and len(value) <= 100:
            out.append(f"I ran the code: it printed `{value}`.")
        elif kind == "code":
            out.append(f"I ran the code; it printed:\n\n```\n{value or '(nothing)'}\n```")
        elif kind == "code_error":
            last = value.splitlines()[-1].strip() if value else "an error"
            out.append(f"The code failed with `{last.replace('`', '')}`; the error output above shows where.")
        elif kind == "url":
            out.append(f"I read: {value}.")
        elif kind == "search":
            out.append(f"I searched the web for *{value}*; the sources below agree on the main points.")
        elif kind in ("mcp", "file_search"):  # already Markdown: the tool's result quoted
            out.append(value)
    return "\n\n".join(out)
