"""Shipped bias data (with sources and licences) and the validation of uploaded CSVs."""

import re

import pandas as pd
import pytest

import attnviz.bias as bias
from attnviz.bias import assets
from attnviz.errors import InputError


def test_shipped_tables_load_and_name_their_sources():
    readme = (assets.ASSETS / "README.md").read_text(encoding="utf-8")
    for kind, spec in assets.KINDS.items():
        frame = assets.load(kind)
        assert len(frame) > 0 and list(frame.columns)[:len(spec.required)] == list(spec.required)
        assert spec.filename in readme, f"{spec.filename} has no source/licence entry"
    for licence in ("Apache-2.0", "MIT", "CC BY-NC 4.0", "CC BY-SA 4.0", "CC BY 4.0"):
        assert licence in readme
    terms = assets.load("terms")
    assert set(terms["axis"]) == {"gender", "ethnicity", "religion", "nationality", "age", "disability",
                                  "sexual orientation"}
    lists = bias.word_lists()
    assert len(lists["flowers"]) == len(lists["insects"]) == len(lists["pleasant"]) == 25
    assert all(len(lists[k]) == 8 for k in ("male names", "female names", "career", "family", "math", "arts",
                                            "male terms", "female terms"))
    tests = bias.weat_tests()
    assert len(tests) == 3 and tests["flowers/insects × pleasant/unpleasant"]["X"][0] == "flowers"
    assert len(bias.seat_templates()) == 7


def test_uploads_are_parsed_leniently():
    data = "\ufeffAxis, Group ,TERM,notes\nreligion,Muslim, Muslim ,x\nreligion,Jewish,Jewish,\n\n".encode()
    frame = bias.read_csv(data, "terms")
    assert list(frame.columns) == ["axis", "group", "term"] and frame["term"].tolist() == ["Muslim", "Jewish"]
    templates = bias.read_csv("template\nThe {identity} person.\n", "templates")
    assert templates["polarity"].tolist() == ["neutral"]  # optional column filled with its default


@pytest.mark.parametrize("data,kind,message", [
    (b"axis,group,term\n" + b"a,b,c\n" * 80_000, "terms", "limit"),
    ("template\nThe {identity} café.\n".encode("latin-1"), "templates", "UTF-8"),
    (b"\x00\x01\x02binary", "templates", "binary"),
    (b"", "terms", "empty"),
    (b"axis,term\nreligion,Muslim\n", "terms", "missing group"),
    (b"axis,group,term\nreligion,,Muslim\nreligion,Jewish,Jewish\n", "terms", "empty 'group'"),
    (b"axis,group,term\nreligion,Muslim,Muslim\nreligion,Muslim,Islamic\n", "terms", "only one group"),
    (b"axis,group,term\nreligion,Muslim,Muslim\nreligion,Jewish,Muslim\n", "terms", "appears twice"),
    (b"template\nNo slot at all.\n", "templates", "exactly one {identity}"),
    (b"template\n{identity} and {identity}.\n", "templates", "exactly one {identity}"),
    (b"template\nThe {identity} is {mask}.\n", "templates", "masked templates"),
    (b"template\nThe {identity} person.\n", "masked_templates", "{mask}"),
    (b"template\nThe {mask} is {identity}.\n", "masked_templates", "before"),
    (b"template\nThe {identity} {colour} car.\n", "templates", "unknown slot"),
    (b"sent_more,sent_less\nSame.,Same.\n", "pairs", "identical"),
    (b'sent_more,sent_less\n"unclosed,quote\n', "pairs", "not a readable CSV"),
    (b"template\nThis is it.\n", "seat_templates", "{word}"),
    (b"test,X,Y,A,B\nt,a,a,b,c\n", "weat_tests", "four different"),
    (("template\n" + "x" * 600 + " {identity}\n").encode(), "templates", "longer than"),
])
def test_bad_uploads_are_input_errors_that_say_what_to_fix(data, kind, message):
    with pytest.raises(InputError, match=re.escape(message)):
        bias.read_csv(data, kind)


def test_tests_must_name_existing_lists():
    tests = pd.DataFrame({"test": ["t"], "X": ["flowers"], "Y": ["insects"], "A": ["pleasant"], "B": ["nope"]})
    with pytest.raises(InputError, match="nope"):
        bias.weat_tests(tests)


def test_unknown_kind():
    with pytest.raises(InputError, match="Unknown table kind"):
        bias.read_csv(b"a\n1\n", "recipes")
