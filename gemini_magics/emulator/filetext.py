"""Text out of uploaded files, cut into chunks, as the file search service indexes them.

The emulator has no embedding model: it keeps the text of each document as chunks and ranks them
lexically (``filesearch.py``). Text comes from text-like files (txt, md, csv, json, html, source code)
and, best effort, from PDFs: the literal strings that the (Flate-decoded) content streams show, one page
per content stream. Files with no text (images, audio) are indexed with no chunks.
"""

from __future__ import annotations

import contextlib
import html
import json
import re
import zlib
from dataclasses import dataclass
from typing import Any

DEFAULT_MAX_TOKENS = 200  # words per chunk when no chunking_config says otherwise
MAX_TOKENS_LIMIT = 2048
_SHORT = 8  # a paragraph this short (a heading) is kept with the one after it

_TEXT_MIME = {
    "application/json",
    "application/xml",
    "application/javascript",
    "application/x-javascript",
    "application/x-python",
    "application/x-python-code",
    "application/x-sh",
    "application/x-yaml",
    "application/yaml",
    "application/sql",
    "application/x-tex",
}


@dataclass(frozen=True)
class Chunk:
    """One retrievable piece of a document; ``page`` is 1-based for PDFs, else None."""

    text: str
    page: int | None = None


class ChunkingError(ValueError):
    """A ``chunking_config`` the service would refuse."""


def extract(data: bytes, mime_type: str) -> list[tuple[int | None, str]]:
    """The text of a file as (page, text) sections; empty for files without text."""
    mime = (mime_type or "").split(";")[0].strip().lower()
    if mime == "application/pdf" or data.startswith(b"%PDF-"):
        return [(page, text) for page, text in enumerate(pdf_pages(data), 1) if text.strip()]
    if not (mime.startswith("text/") or mime in _TEXT_MIME or mime.endswith(("+json", "+xml"))):
        text = _maybe_text(data)
        return [(None, text)] if text else []
    text = data.decode("utf-8", "replace")
    if mime == "text/html" or mime == "application/xhtml+xml":
        text = html_text(text)
    elif mime == "application/json" or mime.endswith("+json"):
        with contextlib.suppress(ValueError):  # one key per line: a chunk then holds whole values
            text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    elif mime == "text/csv":
        text = csv_text(text)
    return [(None, text)] if text.strip() else []


def _maybe_text(data: bytes) -> str:
    """Bytes of an unlisted type that are clearly UTF-8 text (a ``.log``, a ``.toml``) count as text."""
    if b"\x00" in data[:4096]:
        return ""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return ""
    printable = sum(ch.isprintable() or ch in "\n\r\t" for ch in text[:4096])
    return text if text and printable / min(len(text), 4096) > 0.95 else ""


_BLOCK_TAGS = re.compile(
    r"<\s*/?\s*(?:p|div|br|h[1-6]|li|tr|section|article|pre|blockquote|table)\b[^>]*>", re.I
)


def html_text(markup: str) -> str:
    """Visible text of an HTML page, a paragraph per block element."""
    markup = re.sub(r"<(script|style|head)\b.*?</\1\s*>", " ", markup, flags=re.I | re.S)
    markup = re.sub(r"<!--.*?-->", " ", markup, flags=re.S)
    markup = _BLOCK_TAGS.sub("\n\n", markup)
    text = html.unescape(re.sub(r"<[^>]+>", " ", markup))
    lines = [re.sub(r"[ \t\r\f\v]+", " ", line).strip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def csv_text(text: str) -> str:
    """CSV rows as paragraphs of ``header: value`` pairs, so each row can be found by its values."""
    import csv
    import io

    rows = list(csv.reader(io.StringIO(text)))
    if len(rows) < 2:
        return text
    header = rows[0]
    out = []
    for row in rows[1:]:
        if any(cell.strip() for cell in row):
            out.append("; ".join(f"{h}: {v}" if h else v for h, v in zip(header, row, strict=False)))
    return "\n\n".join(out)


# -- PDF ----------------------------------------------------------------------------------------------

_STREAM = re.compile(rb"<<(.*?)>>\s*stream\r?\n(.*?)\r?\nendstream", re.S)
_TEXT_OBJECT = re.compile(rb"BT\b(.*?)\bET\b", re.S)
_OPERAND = re.compile(rb"\((?:\\.|[^\\)])*\)|<[0-9A-Fa-f\s]*>|\[|\]|T\*|Tj|TJ|Td|TD|'|\"", re.S)
_ESCAPES = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}


def pdf_pages(data: bytes) -> list[str]:
    """Best-effort text of a PDF: one entry per content stream that shows text (usually one per page)."""
    pages = []
    for match in _STREAM.finditer(data):
        header, body = match.group(1), match.group(2)
        if b"FlateDecode" in header:
            try:
                body = zlib.decompress(body)
            except zlib.error:
                continue
        elif b"/Filter" in header:
            continue  # other encodings (images, DCT, LZW) carry no text we can read
        if b"BT" not in body:
            continue
        text = "\n".join(_text_object(obj) for obj in _TEXT_OBJECT.findall(body)).strip()
        if text:
            pages.append(text)
    return pages


def _text_object(body: bytes) -> str:
    """The strings one BT…ET block shows, with line breaks where it moves to a new line."""
    out: list[str] = []
    for token in _OPERAND.findall(body):
        if token.startswith(b"("):
            out.append(_literal(token[1:-1]))
        elif token.startswith(b"<"):
            raw = bytes.fromhex(re.sub(rb"\s", b"", token[1:-1]).decode() + ("0" if len(token) % 2 else ""))
            if raw and all(32 <= b < 127 for b in raw):
                out.append(raw.decode("ascii"))
        elif token in (b"T*", b"Td", b"TD", b"'", b'"'):
            out.append("\n")
    text = "".join(out)
    return "\n".join(re.sub(r"[ \t]+", " ", line).strip() for line in text.split("\n") if line.strip())


def _literal(raw: bytes) -> str:
    """A PDF literal string's bytes, its escapes resolved (Latin-1, as the standard fonts encode)."""
    out = bytearray()
    i = 0
    while i < len(raw):
        byte = raw[i : i + 1]
        if byte != b"\\":
            out += byte
            i += 1
            continue
        nxt = raw[i + 1 : i + 2]
        if nxt in _ESCAPES:
            out += _ESCAPES[nxt]
            i += 2
        elif nxt.isdigit():
            digits = re.match(rb"[0-7]{1,3}", raw[i + 1 : i + 4])
            octal = digits.group(0) if digits else b"0"
            out.append(int(octal, 8) & 0xFF)
            i += 1 + len(octal)
        elif nxt in (b"\n", b"\r"):
            i += 2
        else:
            out += nxt
            i += 2
    return out.decode("latin-1")


# -- chunking -------------------------------------------------------------------------------------------


def chunking_limits(config: dict[str, Any] | None) -> tuple[int, int] | None:
    """(max tokens per chunk, overlap) from a ``chunkingConfig``, or None for the default chunking."""
    white = (config or {}).get("whiteSpaceConfig") or (config or {}).get("white_space_config")
    if not white:
        return None
    size = white.get("maxTokensPerChunk", white.get("max_tokens_per_chunk", DEFAULT_MAX_TOKENS))
    overlap = white.get("maxOverlapTokens", white.get("max_overlap_tokens", 0))
    if not isinstance(size, int) or not 1 <= size <= MAX_TOKENS_LIMIT:
        raise ChunkingError(f"max_tokens_per_chunk must be between 1 and {MAX_TOKENS_LIMIT}, got {size!r}.")
    if not isinstance(overlap, int) or not 0 <= overlap < size:
        raise ChunkingError(f"max_overlap_tokens must be at least 0 and less than {size}, got {overlap!r}.")
    return size, overlap


def chunk(sections: list[tuple[int | None, str]], config: dict[str, Any] | None = None) -> list[Chunk]:
    """Chunks of a document: paragraph-sized by default (short headings kept with their paragraph, long
    paragraphs cut); with a ``white_space_config``, windows of N words overlapping by M."""
    limits = chunking_limits(config)
    chunks: list[Chunk] = []
    for page, text in sections:
        if limits is not None:
            chunks += [Chunk(piece, page) for piece in _windows(text.split(), *limits)]
            continue
        pending = ""
        for paragraph in re.split(r"\n\s*\n", text):
            paragraph = paragraph.strip()
            if not paragraph:
                continue
            paragraph = f"{pending}\n{paragraph}" if pending else paragraph
            pending = ""
            words = paragraph.split()
            if len(words) < _SHORT:
                pending = paragraph
            elif len(words) <= DEFAULT_MAX_TOKENS:
                chunks.append(Chunk(paragraph, page))
            else:
                chunks += [Chunk(piece, page) for piece in _windows(words, DEFAULT_MAX_TOKENS, 20)]
        if pending:
            chunks.append(Chunk(pending, page))
    return chunks


def _windows(words: list[str], size: int, overlap: int) -> list[str]:
    step = max(1, size - overlap)
    return [
        " ".join(words[i : i + size])
        for i in range(0, max(1, len(words) - overlap), step)
        if words[i : i + size]
    ]
