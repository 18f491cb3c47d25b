"""Reading input files as text: one encoding policy and one JSON reader for every format.

Encoding (issue 9): every input is UTF-8. A leading UTF-8 byte-order mark is allowed and
dropped, in JSON, JSON Lines and CSV alike (spreadsheet programs write one; RFC 8259 lets a JSON
reader ignore it). Bytes that are not UTF-8 (a Latin-1 file, a UTF-16 export, one corrupt byte)
are never guessed at nor carried as escapes: the reader refuses them naming the file, the line,
the byte column and the byte, and says what is allowed. Where a format has independent records
(a JSON Lines line, a CSV row) only the record holding the bytes is refused
(:func:`bad_utf8_lines` finds them); a JSON document is refused whole.

JSON: nesting is bounded (:data:`MAX_JSON_DEPTH`; a canonical record is 4 levels deep, a FHIR
Bundle about 10), so no input can exhaust the recursion of a parser or of a message that quotes
it. ``NaN``, ``Infinity`` and numbers too large for a float are read as non-finite floats and
refused by the record model with the field they sit in (one record refused, not the file).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

UTF8_BOM = b"\xef\xbb\xbf"
OTHER_BOMS = {b"\xff\xfe": "UTF-16 (little-endian)", b"\xfe\xff": "UTF-16 (big-endian)"}
ENCODING_ALLOWED = "allowed: UTF-8 text (a leading UTF-8 byte-order mark is allowed)"
MAX_JSON_DEPTH = 64
DEPTH_ALLOWED = (f"allowed: JSON nested at most {MAX_JSON_DEPTH} levels deep (a canonical "
                 "record needs 4, a FHIR Bundle about 10)")
# JSON integers with more digits than this are read as floats (then refused as out of range):
# Python refuses to convert a 4,300-digit integer, and no clinical value needs 19 digits.
MAX_INT_DIGITS = 18

_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_OPEN = np.frombuffer(b"[{", dtype=np.uint8)
_CLOSE = np.frombuffer(b"]}", dtype=np.uint8)


class InputError(ValueError):
    """A file that cannot be read at all (not JSON, wrong kind of document, not UTF-8)."""


def read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror or e}") from None


def strip_bom(data: bytes, where: str) -> bytes:
    """``data`` without a leading UTF-8 BOM; a UTF-16 BOM is refused (not UTF-8)."""
    if data.startswith(UTF8_BOM):
        return data[len(UTF8_BOM):]
    for bom, name in OTHER_BOMS.items():
        if data.startswith(bom):
            raise InputError(f"{where}: the file is {name}, not UTF-8; {ENCODING_ALLOWED}")
    return data


def _position(data: bytes, offset: int) -> tuple[int, int]:
    """(line, byte column), both from 1, of a byte offset."""
    line_start = data.rfind(b"\n", 0, offset) + 1
    return data.count(b"\n", 0, offset) + 1, offset - line_start + 1


def decode(data: bytes, where: str) -> str:
    """UTF-8 text of a whole document (BOM dropped); anything else is an InputError naming
    the line, the column and the byte."""
    data = strip_bom(data, where)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line, col = _position(data, e.start)
        raise InputError(f"{where}: line {line}, byte {col}: byte 0x{data[e.start]:02X} is not "
                         f"UTF-8; {ENCODING_ALLOWED}") from None


def bad_utf8_lines(data: bytes) -> dict[int, tuple[int, int]]:
    """{line: (byte column, byte)} of the first non-UTF-8 byte of every line that has one
    (``data`` without its BOM). Only called once a whole-file decode has failed, so the loop
    runs over the bad bytes, not over the file."""
    out: dict[int, tuple[int, int]] = {}
    start = 0
    while True:
        try:
            data[start:].decode("utf-8")
            return out
        except UnicodeDecodeError as e:
            at = start + e.start
            line, col = _position(data, at)
            out.setdefault(line, (col, data[at]))
            start = at + max(1, e.end - e.start)


def json_depth(data: bytes) -> int:
    """How deeply a JSON text nests arrays and objects, vectorised over the bytes (brackets in
    strings do not count). Exact above MAX_JSON_DEPTH; below it an upper bound (a text cannot
    nest deeper than it has brackets, which is all a cheap first look needs)."""
    brackets_at_most = data.count(b"[") + data.count(b"{")
    if brackets_at_most <= MAX_JSON_DEPTH:
        return brackets_at_most
    arr = np.frombuffer(_JSON_STRING.sub(b'""', data), dtype=np.uint8)
    brackets = arr[np.isin(arr, np.concatenate([_OPEN, _CLOSE]))]
    step = np.where(np.isin(brackets, _OPEN), 1, -1)
    return int(np.cumsum(step).max(initial=0))


def _big_int(text: str) -> int | float:
    return int(text) if len(text.lstrip("-")) <= MAX_INT_DIGITS else float(text)


def parse_json(text: str, where: str) -> Any:
    """A JSON value, or InputError naming ``where``, the line and column and the problem.
    Nesting deeper than MAX_JSON_DEPTH is refused before parsing."""
    raw = text.encode("utf-8")
    depth = json_depth(raw)
    if depth > MAX_JSON_DEPTH:
        raise InputError(f"{where}: JSON nested {depth} levels deep; {DEPTH_ALLOWED}")
    try:
        return json.loads(text, parse_int=_big_int, parse_constant=float)
    except json.JSONDecodeError as e:
        raise InputError(f"{where}: not valid JSON (line {e.lineno}, column {e.colno}: "
                         f"{e.msg})") from None
    except (ValueError, RecursionError) as e:  # a defence: the depth check comes first
        raise InputError(f"{where}: not valid JSON ({type(e).__name__}: {str(e)[:120]})") \
            from None


def read_json(path: Path) -> Any:
    """A whole JSON file under the encoding policy."""
    return parse_json(decode(read_bytes(path), str(path)), str(path))


def json_lines(path: Path) -> list[tuple[int, str | None, str | None]]:
    """The lines of a JSON Lines file as (line number, text, why it cannot be read): a line
    with non-UTF-8 bytes has no text and says why; blank lines are left out."""
    return list(iter_json_lines(path))


def iter_json_lines(path: Path) -> Iterator[tuple[int, str | None, str | None]]:
    """:func:`json_lines` one line at a time, read as the file is (a JSON Lines or NDJSON file
    of any size is never held whole): the same BOM and UTF-8 policy, line by line."""
    try:
        fh = path.open("rb")
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror or e}") from None
    with fh:
        for n, raw in enumerate(fh, 1):
            if n == 1:
                raw = strip_bom(raw, str(path))
            raw = raw.removesuffix(b"\n")
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                yield (n, None, f"byte {e.start + 1}: byte 0x{raw[e.start]:02X} is not UTF-8; "
                                f"{ENCODING_ALLOWED}")
                continue
            if line.strip():
                yield (n, line, None)


STREAM_BLOCK = 1 << 20  # characters read at a time by iter_json_array


def iter_json_object(path: Path, array_key: str
                     ) -> Iterator[tuple[str, Any] | tuple[int, Any]]:
    """A JSON document whose top level is an object, read as it comes (never held whole):
    yields ``("key", value)`` for each member except ``array_key``, and ``(i, item)`` for each
    item of the ``array_key`` array, in the file's order. The same encoding policy as
    :func:`read_json` (UTF-8, a leading BOM dropped) and the same nesting bound per item; a
    text that is not JSON raises InputError naming the character offset."""
    import codecs

    where = str(path)
    decoder = json.JSONDecoder(parse_int=_big_int, parse_constant=float)
    utf8 = codecs.getincrementaldecoder("utf-8")("strict")
    try:
        fh = path.open("rb")
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror or e}") from None
    with fh:
        buf = ""
        pos = 0  # in buf
        base = 0  # characters dropped before buf
        eof = False
        first = True

        def more() -> bool:
            nonlocal buf, pos, base, eof, first
            if eof:
                return False
            got = fh.read(max(STREAM_BLOCK, 4))
            raw = strip_bom(got, where) if first else got
            first = False
            try:
                text = utf8.decode(raw, final=not got)
            except UnicodeDecodeError as e:
                raise InputError(f"{where}: near character {base + len(buf)}: byte "
                                 f"0x{e.object[e.start]:02X} is not UTF-8; "
                                 f"{ENCODING_ALLOWED}") from None
            if not got:
                eof = True
            if pos > STREAM_BLOCK:
                base += pos
                buf, pos = buf[pos:], 0
            buf += text
            return bool(got)

        def fail(what: str) -> InputError:
            return InputError(f"{where}: not valid JSON (character {base + pos}: {what})")

        def skip() -> str:
            nonlocal pos
            while True:
                while pos < len(buf) and buf[pos] in " \t\r\n":
                    pos += 1
                if pos < len(buf):
                    return buf[pos]
                if not more():
                    return ""

        def value() -> Any:
            nonlocal pos
            while len(buf) - pos < 256 and more():  # a number is never cut by a block
                pass
            while True:
                try:
                    v, end = decoder.raw_decode(buf, pos)
                except json.JSONDecodeError as e:
                    if more():
                        continue
                    raise fail(e.msg) from None
                except RecursionError:
                    raise InputError(f"{where}: JSON nested too deep near character "
                                     f"{base + pos}; {DEPTH_ALLOWED}") from None
                # a number may go on in the next block: decode it again with more text
                if end >= len(buf) - 1 and not eof and more():
                    continue
                text = buf[pos:end]
                if json_depth(text.encode("utf-8")) > MAX_JSON_DEPTH - 2:
                    raise InputError(f"{where}: JSON nested too deep near character "
                                     f"{base + pos}; {DEPTH_ALLOWED}")
                pos = end
                return v

        if skip() != "{":
            raise fail("the top level is not a JSON object")
        pos += 1
        members = 0
        while True:
            c = skip()
            if c == "}" and members == 0:
                pos += 1
                break
            if c != '"':
                raise fail("expected a member name")
            key = value()
            if skip() != ":":
                raise fail("expected ':'")
            pos += 1
            skip()
            if key == array_key and buf[pos] == "[":
                pos += 1
                i = 0
                if skip() == "]":
                    pos += 1
                else:
                    while True:
                        skip()
                        yield i, value()
                        i += 1
                        c = skip()
                        pos += 1
                        if c == "]":
                            break
                        if c != ",":
                            raise fail("expected ',' or ']'")
            else:
                yield key, value()
            members += 1
            c = skip()
            pos += 1
            if c == "}":
                break
            if c != ",":
                raise fail("expected ',' or '}'")
        if skip() != "":
            raise fail("extra data after the document")
