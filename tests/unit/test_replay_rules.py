"""The cassette's rules without a shell: request keys, aliases, the file format, damaged files, misses."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from gemini_magics.replay import cassette_path, policy
from gemini_magics.replay.cassette import Cassette, CassetteError, Entry, path_for, read
from gemini_magics.replay.keys import Aliases, differences, key_of, normalise
from gemini_magics.replay.recorder import Recorder, parse_frame, sse_bytes
from gemini_magics.replay.transport import Copy

URL = "https://generativelanguage.googleapis.com/v1beta/interactions"


def body(**fields: object) -> bytes:
    return json.dumps({"model": "gemini-3-flash-preview", "input": "Hi", **fields}).encode()


def test_keys_do_not_depend_on_ids_the_service_made_up() -> None:
    first, second = Aliases(), Aliases()
    first.learn({"id": "v1_abc123", "status": "completed"}, "@k.0")
    second.learn({"id": "v1_zzz999", "status": "completed"}, "@k.0")
    a = normalise("POST", URL, body(previous_interaction_id="v1_abc123"), first)
    b = normalise("POST", URL, body(previous_interaction_id="v1_zzz999"), second)
    assert a == b and a["body"]["previous_interaction_id"] == "@k.0.id"
    assert key_of(a) == key_of(b)
    assert normalise("GET", f"{URL}/v1_abc123?stream=true&last_event_id=7", b"", first)["path"].endswith(
        "@k.0.id"
    )


def test_words_are_not_aliases_and_secrets_and_bytes_stay_out() -> None:
    aliases = Aliases()
    aliases.learn({"name": "get_weather", "id": "call_9f2"}, "@k.0")
    assert len(aliases) == 1  # the function's name is the user's word, the call id is the service's
    request = normalise(
        "POST",
        URL,
        body(
            tools=[
                {
                    "type": "mcp_server",
                    "name": "docs",
                    "url": "https://x",
                    "headers": {"Authorization": "tok"},
                }
            ],
            input=[{"type": "image", "data": "A" * 400, "mime_type": "image/png"}],
            display_name="/home/me/secret/report.pdf",
        ),
        aliases,
    )
    text = json.dumps(request)
    assert "Authorization" not in text and "AAAA" not in text and "/home/me" not in text
    assert request["body"]["input"][0]["data"].startswith("sha256:")
    assert request["body"]["display_name"] == "report.pdf"
    assert normalise("POST", URL, b"\x89PNG raw bytes", aliases)["body"].startswith("sha256:")


def test_differences_say_what_the_user_changed() -> None:
    aliases = Aliases()
    old = normalise("POST", URL, body(generation_config={"temperature": 0.1}), aliases)
    new = normalise("POST", URL, body(input="Hello", model="gemini-3-pro-preview"), aliases)
    found = differences(old, new)
    assert found[0] == "the model (gemini-3-flash-preview → gemini-3-pro-preview)"
    assert "the prompt ('Hi' → 'Hello')" in found and "the flags (generation_config)" in found


def test_a_cassette_is_sorted_lines_with_a_header(tmp_path: Path) -> None:
    cassette = Cassette(tmp_path / "nb.gemini.jsonl")
    for key in ("b", "a"):
        cassette.put(Entry(key, 0, "call", -1, {"method": "POST"}, {"status": 200, "json": {"k": key}}))
    cassette.put(Entry("b", 0, "call", -1, {"method": "POST"}, {"status": 200, "json": {"k": "again"}}))
    lines = cassette.path.read_text().splitlines()
    assert json.loads(lines[0]) == {"format": "gemini-magics cassette", "version": 1}
    assert [json.loads(line)["key"] for line in lines[1:]] == ["b", "a"]  # first recorded first
    assert json.loads(lines[1])["response"]["json"] == {"k": "again"}  # re-recorded in place
    assert list(tmp_path.iterdir()) == [cassette.path]  # no temporary file left


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("", "is not a gemini-magics cassette"),
        ('{"format": "something else"}\n', "is not a gemini-magics cassette"),
        ('{"format": "gemini-magics cassette", "version": 99}\n', "newer gemini-magics"),
        (
            '{"format": "gemini-magics cassette", "version": 1}\n{"key": "a", "n": 0, "kin',
            "line 2 (cut short)",
        ),
        ('{"format": "gemini-magics cassette", "version": 1}\n[1, 2]\n', "line 2 (not an entry)"),
        (
            '{"format": "gemini-magics cassette", "version": 1}\n'
            '{"key": "a", "n": 0, "kind": "call", "seq": 0, "request": {}, "response": {"status": "200"}}\n',
            "line 2 (not an entry)",
        ),
    ],
)
def test_a_damaged_cassette_is_refused_and_kept(tmp_path: Path, content: str, says: str) -> None:
    path = tmp_path / "nb.gemini.jsonl"
    path.write_text(content)
    cassette = Cassette(path)
    with pytest.raises(CassetteError, match=says.replace("(", r"\(").replace(")", r"\)")):
        cassette.load()
    with pytest.raises(CassetteError):
        Recorder(cassette, "replay").lookup("POST", URL, body())
    recorder = Recorder(cassette, "record")  # recording over it: the answer is kept, the file too
    answer, pending = recorder.lookup("POST", URL, body())
    assert answer is None and pending is not None
    pending.done(200, {"content-type": "application/json"}, b'{"id": "v1_abc123"}', streamed=False)
    assert recorder.note.startswith("not recorded: ") and says.split(" (")[0] in recorder.note
    assert path.read_text() == content  # never overwritten


def test_replay_refuses_what_it_does_not_hold_without_sending(tmp_path: Path) -> None:
    recorder = Recorder(Cassette(tmp_path / "nb.gemini.jsonl"), "replay")
    recorder.cell = "the cell 'Hi'"
    answer, pending = recorder.lookup("POST", URL, body())
    assert pending is None and answer is not None and answer.status == 400
    message = json.loads(answer.body)["error"]["message"]
    assert message.startswith("[replay] the cell 'Hi': not in the cassette nb.gemini.jsonl — ")
    assert recorder.misses[0].cell == "the cell 'Hi'" and recorder.sent == 0


def test_a_recorded_stream_is_replayed_after_the_last_event(tmp_path: Path) -> None:
    recorder = Recorder(Cassette(tmp_path / "nb.gemini.jsonl"), "record")
    url = f"{URL}/v1_abc123?stream=true"
    answer, pending = recorder.lookup("GET", url, b"")
    assert answer is None and pending is not None
    events = [{"id": str(i), "data": {"event_type": "step.delta", "n": i}} for i in range(1, 4)]
    raw = gzip.compress(sse_bytes(events))
    headers = {"content-type": "text/event-stream", "content-encoding": "gzip"}
    copy = Copy(iter([raw[:10], raw[10:]]), pending, 200, headers, streamed=True)
    assert b"".join(copy) == raw  # passed on untouched
    copy.close()
    replaying = Recorder(Cassette(tmp_path / "nb.gemini.jsonl"), "replay")
    served, _ = replaying.lookup("GET", f"{URL}/v1_abc123?stream=true&last_event_id=1", b"")
    assert served is not None and served.status == 200
    frames = [parse_frame(f) for f in served.body.decode().split("\n\n") if f.strip()]
    assert [f["data"]["n"] for f in frames if f] == [2, 3]


def test_the_mode_and_the_cassette_of_a_kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GEMINI_MAGICS_REPLAY", raising=False)
    monkeypatch.delenv("GEMINI_MAGICS_CASSETTE", raising=False)
    notebook = tmp_path / "analysis.ipynb"
    assert path_for(notebook) == tmp_path / "analysis.gemini.jsonl"
    assert cassette_path("", str(notebook)) == tmp_path / "analysis.gemini.jsonl"
    assert cassette_path("", None) is None
    path = tmp_path / "analysis.gemini.jsonl"
    assert policy("", path, False, "auto").mode == "off"  # no cassette yet
    path.write_text("")
    shared = policy("", path, False, "auto")
    assert shared.mode == "replay" and "no API key is set" in shared.note
    assert policy("", path, True, "auto").mode == "off"  # a key: ask the service
    assert policy("", path, False, "emulator").mode == "off"  # a backend chosen on purpose
    monkeypatch.setenv("GEMINI_MAGICS_REPLAY", "record")
    assert (
        policy("", path, True, "auto").mode == "record" and policy("auto", None, True, "auto").mode == "auto"
    )
    with pytest.raises(ValueError, match="must be one of off, record, replay, auto"):
        policy("sometimes", path, True, "auto")


def test_a_hand_edited_entry_is_written_back_readable(tmp_path: Path) -> None:
    """An entry whose key was edited to "" (the replay fuzzing) was saved without its key, and the next
    read found a damaged line: every required field is written, empty or not."""
    path = tmp_path / "nb.gemini.jsonl"
    Cassette(path).put(Entry(key="", n=0, kind="call", seq=0, request={}, response={"status": 200}))
    again = read(path)
    assert list(again) == [("", 0)] and again[("", 0)].kind == "call"
