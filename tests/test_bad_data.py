"""Malformed STS and SICK files: every reader either returns the right pairs or says where it broke.

Data files are written by spreadsheets, editors and scripts, so `read_sts`, `read_sick` and
`read_texts` accept what such tools ordinarily write (a byte-order mark, Windows line endings,
blank lines, no final newline) and refuse the rest with a ValueError that names the file, the
line and the field: `sts-train.csv, line 17: score 'abc' is not a number`. A reader that let a
KeyError or a UnicodeDecodeError through, or that read "nan" as a score, would hand a student a
training run that fails (or, worse, trains on garbage) an hour later.

The named cases show one mistake each; the properties take a small valid file, generated, damage
one generated line in a generated way, lay the file out as a spreadsheet might, and check: either
the reader returns exactly the pairs the file says, with every score a finite number in range, or
it raises ValueError naming the file and the damaged line's number — never another exception.
"""

from __future__ import annotations

import math
import re

import pytest
from fuzzing import fuzz
from hypothesis import given
from hypothesis import strategies as st

from minisbert.data import SICK_LABELS, LabeledPair, read_sick, read_sts, read_texts

SICK_HEADER = "pair_ID\tsentence_A\tsentence_B\trelatedness_score\tentailment_judgment"
STS_LINE = "main-news\tfile\t2012\t0001\t{score}\t{s1}\t{s2}"


def write(tmp_path, name: str, content: str | bytes):
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def sts_lines(*scores: str) -> list[str]:
    return [STS_LINE.format(score=score, s1=f"first {i}", s2=f"second {i}") for i, score in enumerate(scores)]


def names_line(path, number: int, problem: str) -> str:
    """The start of the message every reader error has: the file, the line, then the problem."""
    return rf"^{re.escape(str(path))}, line {number}: {problem}"


# -- one mistake each ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "third_line, problem",
    [
        ("main-news\tfile\t2012\t0003\t2.5\tonly one sentence", r"expected at least 7 tab-separated fields"),
        ("main-news\tfile\t2012\t0003\tabc\tA\tB", r"score 'abc' is not a number"),
        ("main-news\tfile\t2012\t0003\tnan\tA\tB", r"score 'nan' is not a number"),
        ("main-news\tfile\t2012\t0003\tinf\tA\tB", r"score 'inf' is not a number"),
        ("main-news\tfile\t2012\t0003\t4,5\tA\tB", r"score '4,5' is not a number"),
        ("main-news\tfile\t2012\t0003\t5.2\tA\tB", r"score 5.2 is outside the range 0 to 5"),
        ("main-news\tfile\t2012\t0003\t-1\tA\tB", r"score -1 is outside the range 0 to 5"),
        ("main-news\tfile\t2012\t0003\t1e999\tA\tB", r"score 1e999 is outside the range 0 to 5"),
        ("main-news\tfile\t2012\t0003\t3.0\t\tB", r"sentence1 is empty"),
        ("main-news\tfile\t2012\t0003\t3.0\tA\t  ", r"sentence2 is empty"),
        ("main-news\tfile\t2012\t0003\t3.0\tA\x00\tB", r"NUL byte at byte 31"),
    ],
    ids=[
        "a line with too few fields",
        "a score that is a word",
        "a score that is nan",
        "a score that is inf",
        "a score with a decimal comma",
        "a score above five",
        "a negative score",
        "a score too large for a float",
        "an empty first sentence",
        "a blank second sentence",
        "a NUL byte",
    ],
)
def test_a_malformed_sts_line_is_named_with_its_problem(tmp_path, third_line, problem):
    path = write(tmp_path, "sts-train.csv", "\n".join([*sts_lines("1.0", "2.0"), third_line, ""]))
    with pytest.raises(ValueError, match=names_line(path, 3, problem)):
        read_sts(path)


def sick_line(pair_id, label="NEUTRAL", score="3.5", a="A dog runs.", b="A cat sleeps."):
    return f"{pair_id}\t{a}\t{b}\t{score}\t{label}"


@pytest.mark.parametrize(
    "second_pair, problem",
    [
        (sick_line(2, label="ENTAILMNT"), r"label 'ENTAILMNT' is not one of ENTAILMENT, NEUTRAL"),
        (sick_line(2, label="entailment"), r"label 'entailment' is not one of"),
        (sick_line(2, score="0.5"), r"relatedness_score 0.5 is outside the range 1 to 5"),
        (sick_line(2, score="NaN"), r"relatedness_score 'NaN' is not a number"),
        (sick_line(1), r"pair_ID 1 is already on line 2"),
        (sick_line("-2"), r"pair_ID '-2' is not a valid int"),
        (
            sick_line(2) + "\textra",
            r"expected 5 tab-separated fields .*, got 6 \(a tab inside a sentence\?\)",
        ),
        (sick_line(2, a="A dog\truns."), r"expected 5 tab-separated fields"),
    ],
    ids=[
        "a misspelled label",
        "a label in lower case",
        "a relatedness below one",
        "a relatedness that is NaN",
        "a repeated pair_ID",
        "a negative pair_ID",
        "an extra field",
        "a tab inside a sentence",
    ],
)
def test_a_malformed_sick_line_is_named_with_its_problem(tmp_path, second_pair, problem):
    path = write(tmp_path, "SICK.txt", "\n".join([SICK_HEADER, sick_line(1), second_pair, ""]))
    with pytest.raises(ValueError, match=names_line(path, 3, problem)):
        read_sick(path)


@pytest.mark.parametrize(
    "content, reader, problem",
    [
        ("", read_sts, r"holds no sentence pairs"),
        ("", read_sick, r"is empty: it holds no sentence pairs"),
        (SICK_HEADER + "\n", read_sick, r"holds no sentence pairs \(only a header\)"),
        ("\n\n  \n", read_sts, r"holds no sentence pairs"),
        (sick_line(1) + "\n", read_sick, r", line 1: expected the header pair_ID sentence_A"),
    ],
    ids=["an empty STS file", "an empty SICK file", "a SICK header alone", "blank lines only", "no header"],
)
def test_a_file_without_pairs_is_refused(tmp_path, content, reader, problem):
    path = write(tmp_path, "data.txt", content)
    with pytest.raises(ValueError, match=rf"^{re.escape(str(path))}.*{problem}"):
        reader(path)


@pytest.mark.parametrize(
    "encoded, problem",
    [
        ("café".encode("latin-1"), r"byte 0xe9 at byte 27 is not UTF-8 \(a Latin-1"),
        ("café".encode("cp1252") + b" \x93quoted\x94", r"byte 0xe9 at byte 27 is not UTF-8"),
    ],
    ids=["a Latin-1 accent", "Windows-1252 quotes"],
)
def test_bytes_that_are_not_utf8_are_named_by_line_and_byte(tmp_path, encoded, problem):
    line = b"main-news\tf\t2012\t1\t2.0\t" + encoded + b"\tB"
    path = write(tmp_path, "sts-dev.csv", ("\n".join(sts_lines("1.0")) + "\n").encode() + line + b"\n")
    with pytest.raises(ValueError, match=names_line(path, 2, problem)):
        read_sts(path)
    with pytest.raises(ValueError, match=names_line(path, 2, problem)):
        read_texts(path)


def test_a_utf16_file_is_named_as_such(tmp_path):
    path = write(tmp_path, "SICK.txt", "\n".join([SICK_HEADER, sick_line(1), ""]).encode("utf-16"))
    with pytest.raises(ValueError, match=names_line(path, 1, r"the file is UTF-16 text; save it as UTF-8")):
        read_sick(path)
    with pytest.raises(ValueError, match=names_line(path, 1, r"the file is UTF-16")):
        read_texts(path)


def test_spreadsheet_output_reads_like_the_plain_file(tmp_path):
    """A BOM, CRLF line endings, blank lines and a missing final newline change nothing."""
    lines = [SICK_HEADER, sick_line(1, "ENTAILMENT", "4.5"), sick_line(2, "CONTRADICTION", "1")]
    plain = read_sick(write(tmp_path, "plain.txt", "\n".join(lines) + "\n"))
    windows = "\ufeff" + "\r\n".join([lines[0], lines[1], "", lines[2], "", ""])
    assert read_sick(write(tmp_path, "windows.txt", windows)) == plain
    assert read_texts(tmp_path / "windows.txt") == ["A dog runs.", "A cat sleeps."] * 2
    assert plain[1] == LabeledPair(2, "A dog runs.", "A cat sleeps.", 1.0, SICK_LABELS.index("CONTRADICTION"))


def test_a_text_file_is_split_at_newlines_only(tmp_path):
    """A lone carriage return or U+2028 inside a sentence is not a line break (str.splitlines
    would split there and shift every line number after it)."""
    path = write(tmp_path, "texts.txt", "\ufeffone\rstill one\u2028and still\r\n\r\ntwo")
    assert read_texts(path) == ["one\rstill one\u2028and still", "two"]


# -- generated files, one damaged line ---------------------------------------------------------

# sentence text: anything but the characters that separate fields and lines
SENTENCE = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\t\n\r\x00"), min_size=1, max_size=12
).filter(str.strip)
STS_SCORE = st.integers(0, 500).map(lambda n: f"{n / 100:.{n % 3}f}")
SICK_SCORE = st.integers(100, 500).map(lambda n: f"{n / 100:.{n % 3}f}")
ODD_NUMBERS = [
    "nan",
    "NaN",
    "inf",
    "-inf",
    "1e999",
    "4,5",
    "1_0",
    " 4",
    "4.5 ",
    "５",
    "5.01",
    "-0.5",
    "0x1",
    "",
]
ODD_LABELS = ["entailment", "ENTAILMNT", "NEUTRAL ", " NEUTRAL", "CONTRADICTION\r", "", "NEUTRAL\x0b"]
TEXT_DAMAGES = ["drop a field", "add a field", "replace a number", "empty a sentence", "cut the line"]
BYTE_DAMAGES = ["a Latin-1 byte", "a NUL byte", "the line in UTF-16"]


@st.composite
def layouts(draw, lines: int):
    """How a spreadsheet might lay out `lines` lines: BOM, CRLF, blank lines, final newline."""
    return dict(
        bom=draw(st.booleans()),
        crlf=draw(st.booleans()),
        blank_before=draw(st.lists(st.integers(0, lines), max_size=3)),  # blank lines before line i
        final_newline=draw(st.booleans()),
    )


def lay_out(lines: list[bytes], layout: dict) -> tuple[bytes, list[int]]:
    """The file's bytes, and the line number at which each of `lines` lands."""
    out, numbers = [], []
    for i, line in enumerate(lines):
        out += [b""] * layout["blank_before"].count(i)
        out.append(line)
        numbers.append(len(out))
    out += [b""] * layout["blank_before"].count(len(lines))
    end = b"\r\n" if layout["crlf"] else b"\n"
    content = end.join(out) + (end if layout["final_newline"] or not out[-1] else b"")
    return (b"\xef\xbb\xbf" if layout["bom"] else b"") + content, numbers


def damage(draw, fields: list[str], number_fields: list[int], label_field: int | None) -> bytes:
    """One line's fields, damaged in a generated way, as bytes."""
    kind = draw(st.sampled_from(TEXT_DAMAGES + BYTE_DAMAGES + (["replace the label"] if label_field else [])))
    fields = list(fields)
    if kind == "drop a field":
        del fields[draw(st.integers(0, len(fields) - 1))]
    elif kind == "add a field":
        fields.insert(
            draw(st.integers(0, len(fields))), draw(st.text(max_size=5).filter(lambda t: "\n" not in t))
        )
    elif kind == "replace a number":
        any_number = st.one_of(st.sampled_from(ODD_NUMBERS), st.floats().map(str), st.text(max_size=6))
        fields[draw(st.sampled_from(number_fields))] = draw(any_number.filter(lambda t: "\n" not in t))
    elif kind == "replace the label":
        fields[label_field] = draw(st.one_of(st.sampled_from(ODD_LABELS), st.text(max_size=12)))
        fields[label_field] = fields[label_field].replace("\n", "")
    elif kind == "empty a sentence":
        fields[draw(st.sampled_from([i for i in range(len(fields)) if i not in number_fields]))] = " "
    text = "\t".join(fields)
    if kind == "cut the line":
        text = text[: draw(st.integers(0, len(text) - 1))]
    raw = text.encode("utf-8")
    where = draw(st.integers(0, len(raw)))
    if kind == "a Latin-1 byte":
        raw = raw[:where] + b"\xe9" + raw[where:]
    elif kind == "a NUL byte":
        raw = raw[:where] + b"\x00" + raw[where:]
    elif kind == "the line in UTF-16":
        raw = text.encode("utf-16-le")
    return raw


@st.composite
def damaged_sts_files(draw):
    """(file bytes, the damaged line's number, the damaged line, every line) of a small STS file."""
    rows = draw(st.lists(st.tuples(STS_SCORE, SENTENCE, SENTENCE), min_size=1, max_size=6))
    lines = [STS_LINE.format(score=score, s1=a, s2=b).split("\t") for score, a, b in rows]
    hit = draw(st.integers(0, len(lines) - 1))
    raw = [damage(draw, f, [4], None) if i == hit else "\t".join(f).encode() for i, f in enumerate(lines)]
    content, numbers = lay_out(raw, draw(layouts(len(raw))))
    return content, numbers[hit], raw[hit], raw


@st.composite
def damaged_sick_files(draw):
    """The same for SICK.txt: its header, then pairs with distinct pair_IDs; the header may be hit."""
    rows = draw(st.lists(st.tuples(SICK_SCORE, SENTENCE, SENTENCE, st.sampled_from(SICK_LABELS)), max_size=6))
    lines = [SICK_HEADER.split("\t")] + [
        [str(i + 1), a, b, score, label] for i, (score, a, b, label) in enumerate(rows)
    ]
    hit = draw(st.integers(0, len(lines) - 1))
    raw = [damage(draw, f, [0, 3], 4) if i == hit else "\t".join(f).encode() for i, f in enumerate(lines)]
    if hit > 0 and draw(st.booleans()):  # and maybe the pair_ID of an earlier line
        raw[hit] = b"\t".join([raw[draw(st.integers(1, hit))].split(b"\t")[0], *raw[hit].split(b"\t")[1:]])
    content, numbers = lay_out(raw, draw(layouts(len(raw))))
    return content, numbers[hit], raw[hit], raw


def plainly(line: bytes, columns: tuple[int, ...], numbers: tuple[int, ...]) -> tuple:
    """What a line says, read the plain way: the fields at `columns`, those at `numbers` as floats."""
    fields = line.removesuffix(b"\r").decode("utf-8").split("\t")  # a final \r ends the line
    return tuple(float(fields[i]) if i in numbers else fields[i] for i in columns)


def is_blank(line: bytes) -> bool:
    return not line.decode("utf-8", errors="replace").strip()


def check_read(read, path, number: int, damaged: bytes, says):
    """The property: the reader returns what the lines say (`says()`, each score finite and in
    range), or raises a ValueError naming the file and the damaged line `number`. A line damaged
    into a blank one is skipped like any blank line: then the error may come further on (a
    missing SICK header, no pairs left)."""
    try:
        pairs = read(path)
    except ValueError as err:
        message, where = str(err), re.escape(str(path))
        assert re.match(rf"^{where}\b", message), message
        if not is_blank(damaged):
            assert re.match(rf"^{where}, line \d+: ", message), message
            assert re.search(rf"\bline {number}\b", message), message  # a repeated id: "already on line n"
        return
    assert [(p.sentence1, p.sentence2, p.score) for p in pairs] == [said[:3] for said in says()]
    assert all(math.isfinite(p.score) and p.score <= 5 for p in pairs)
    assert all(p.sentence1.strip() and p.sentence2.strip() for p in pairs)
    return pairs


@fuzz(ci_examples=250)
@given(case=damaged_sts_files())
def test_a_damaged_sts_file_gives_the_right_pairs_or_names_the_line(tmp_path_factory, case):
    content, number, damaged, lines = case
    path = write(tmp_path_factory.mktemp("sts"), "sts-train.csv", content)
    pairs = check_read(
        read_sts,
        path,
        number,
        damaged,
        lambda: [plainly(x, (5, 6, 4), (4,)) for x in lines if not is_blank(x)],
    )
    assert pairs is None or all(0 <= p.score for p in pairs)


@fuzz(ci_examples=250)
@given(case=damaged_sick_files())
def test_a_damaged_sick_file_gives_the_right_pairs_or_names_the_line(tmp_path_factory, case):
    content, number, damaged, lines = case
    path = write(tmp_path_factory.mktemp("sick"), "SICK.txt", content)
    body = [x for x in lines[1:] if not is_blank(x)]
    pairs = check_read(
        read_sick, path, number, damaged, lambda: [plainly(x, (1, 2, 3, 4, 0), (3,)) for x in body]
    )
    if pairs is not None:
        said = [plainly(x, (1, 2, 3, 4, 0), (3,)) for x in body]
        assert [(SICK_LABELS[p.label], p.pair_id) for p in pairs] == [(s[3], int(s[4])) for s in said]
        assert all(1 <= p.score for p in pairs) and len({p.pair_id for p in pairs}) == len(pairs)
