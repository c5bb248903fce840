"""Reading UTF-8 text files and tab-separated data files line by line, with errors that say where.

Data files come from spreadsheets, editors and scripts on every system, so the readers accept what
such tools ordinarily write and refuse the rest with a ValueError naming the file and the line:

    accepted   a UTF-8 byte-order mark (BOM) at the start; Windows line endings (CRLF);
               blank lines (skipped, but still counted in the line numbers); no final newline
    refused    bytes that are not UTF-8 (a Latin-1 "é", a UTF-16 file); a NUL byte; missing
               fields; numbers that are not plain decimals (nan, inf, "4,5") or out of range

Lines are split at "\\n" only: a sentence may hold a lone "\\r", a form feed or U+2028, which
`str.splitlines` would take for line breaks and so shift every line number after it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from pathlib import Path

UTF8_BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
# a plain decimal number: 4, 4.5, .5, -1e3; not nan, inf, 4,5, 1_000 or full-width digits
DECIMAL = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", re.ASCII)
WHOLE_NUMBER = re.compile(r"\d+", re.ASCII)


def read_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text without its line ending) of every line of a UTF-8 file, counting from 1."""
    return enumerate(stream_lines(path), start=1)


def stream_lines(path: Path, skip: int = 0) -> Iterator[str]:
    """The lines of a UTF-8 file without their line endings, from line `skip` (counted from 0)
    on, read one at a time: a corpus of any size streams through in little memory."""
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            if number == 1:
                if raw.startswith(UTF16_BOMS):
                    raise ValueError(f"{path}, line 1: the file is UTF-16 text; save it as UTF-8")
                raw = raw.removeprefix(UTF8_BOM)  # a BOM is a marker, not part of the first line
            if number > skip:
                # CRLF: Windows line endings
                yield decode_line(raw.removesuffix(b"\n").removesuffix(b"\r"), path, number)


def decode_line(raw: bytes, path: Path, number: int) -> str:
    """One line's bytes as text, or a ValueError naming the line and the first bad byte."""
    if b"\0" in raw:  # never in text; typical of UTF-16 without a BOM, or of a binary file
        column = raw.index(b"\0") + 1
        raise ValueError(f"{path}, line {number}: NUL byte at byte {column} (a binary or UTF-16 file?)")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(
            f"{path}, line {number}: byte 0x{raw[err.start]:02x} at byte {err.start + 1} is not UTF-8 "
            "(a Latin-1 or Windows-1252 file?); save the file as UTF-8"
        ) from None


def read_rows(path: Path, columns: tuple[str, ...], extra: bool) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of each non-blank line of a tab-separated file with these `columns`.

    Fields are split at every tab, never parsed as CSV: sentences hold unbalanced quotes. With
    `extra`, a line may carry more fields after the named ones (the STS test file does)."""
    for number, line in read_lines(path):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < len(columns):
            raise ValueError(
                f"{path}, line {number}: expected at least {len(columns)} tab-separated fields "
                f"({' '.join(columns)}), got {len(fields)}"
            )
        if len(fields) > len(columns) and not extra:
            raise ValueError(
                f"{path}, line {number}: expected {len(columns)} tab-separated fields "
                f"({' '.join(columns)}), got {len(fields)} (a tab inside a sentence?)"
            )
        yield number, fields


def parse_decimal(value: str, what: str, low: float, high: float, path: Path, number: int) -> float:
    """A field holding a plain decimal number from `low` to `high`, or a ValueError saying where."""
    if not DECIMAL.fullmatch(value):
        raise ValueError(f"{path}, line {number}: {what} {value!r} is not a number")
    x = float(value)
    if not (math.isfinite(x) and low <= x <= high):  # 1e999 reads as inf
        raise ValueError(f"{path}, line {number}: {what} {value} is outside the range {low:g} to {high:g}")
    return x


def parse_whole_number(value: str, what: str, path: Path, number: int) -> int:
    """A field holding a whole number ≥ 0 (an id), or a ValueError saying where."""
    if not WHOLE_NUMBER.fullmatch(value):
        raise ValueError(f"{path}, line {number}: {what} {value!r} is not a valid int (a whole number ≥ 0)")
    return int(value)


def check_sentence(value: str, what: str, path: Path, number: int) -> str:
    """A sentence field, which must hold some text: a blank one is a column gone missing."""
    if not value.strip():
        raise ValueError(f"{path}, line {number}: {what} is empty")
    return value
