"""Reading audit datasets: formats, column choice, limits and malformed files."""

import json

import pandas as pd
import pytest

from attnviz.audit.dataset import SAMPLE_SETS, load_dataset, prepare, read_table, slice_key
from attnviz.errors import InputError


def test_csv_jsonl_and_parquet_give_the_same_rows(tmp_path):
    frame = pd.DataFrame({"review": ["Good soup.", "Cold fries, rude staff.", "Fine, I guess."],
                          "gold": ["positive", "negative", "positive"], "shop": ["a", "b", "a"]})
    frame.to_csv(tmp_path / "d.csv", index=False)
    (tmp_path / "d.jsonl").write_text("\n".join(json.dumps(r) for r in frame.to_dict("records")), encoding="utf-8")
    frame.to_parquet(tmp_path / "d.parquet")
    loaded = [load_dataset(tmp_path / f"d.{ext}", text_column="review", label_column="gold", slice_columns=["shop"])
              for ext in ("csv", "jsonl", "parquet")]
    for ds in loaded:
        assert ds.frame["text"].tolist() == frame["review"].tolist()
        assert ds.frame["label"].tolist() == frame["gold"].tolist()
        assert ds.frame[slice_key("shop")].tolist() == ["a", "b", "a"]
        assert ds.frame["index"].tolist() == [0, 1, 2]
        assert len(ds.sha256) == 64


def test_text_column_is_guessed_and_pairs_are_read(tmp_path):
    (tmp_path / "p.csv").write_text("id,sentence,other\n1,A man sleeps.,Someone rests.\n2,Dogs bark.,\n",
                                    encoding="utf-8")
    ds = load_dataset(tmp_path / "p.csv", pair_column="other")
    assert ds.text_column == "sentence"
    assert ds.frame["text_pair"].tolist() == ["Someone rests.", None]


def test_empty_texts_are_skipped_and_counted(tmp_path):
    (tmp_path / "e.csv").write_text('text,label\n"Nice.",positive\n"",negative\n"   ",negative\nBad.,negative\n',
                                    encoding="utf-8")
    ds = load_dataset(tmp_path / "e.csv", label_column="label")
    assert ds.frame["text"].tolist() == ["Nice.", "Bad."]
    assert ds.frame["index"].tolist() == [0, 3]  # rows point back to the file
    assert ds.skipped_empty == 2 and ds.rows_in_file == 4
    assert any("2 row(s)" in n for n in ds.notes)


@pytest.mark.parametrize("content,filename,message", [
    ("text\n\n", "only_header.csv", "no rows"),
    ('text\n"", \n', "blank.csv", "empty"),
    ("{\"text\": \"ok\"}\n{broken\n", "bad.jsonl", "line 2"),
    ("[1, 2]", "list.json", "JSON object"),
    ("", "nothing.csv", "empty"),
])
def test_malformed_text_files_are_clear_errors(tmp_path, content, filename, message):
    (tmp_path / filename).write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=message):
        load_dataset(tmp_path / filename)


def test_bad_encoding_wrong_columns_and_broken_parquet(tmp_path):
    (tmp_path / "latin.csv").write_bytes("text\nCaf\xe9 cr\xe8me\n".encode("latin-1"))
    with pytest.raises(InputError, match="not UTF-8"):
        load_dataset(tmp_path / "latin.csv")
    (tmp_path / "cols.csv").write_text("a,b\nx,y\n", encoding="utf-8")
    with pytest.raises(InputError, match="'label' is not in the file; its columns are: a, b"):
        load_dataset(tmp_path / "cols.csv", text_column="a", label_column="label")
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(InputError, match="not a readable Parquet"):
        load_dataset(tmp_path / "broken.parquet")
    (tmp_path / "nums.csv").write_text("n,text\n1,hello\n2,bye\n", encoding="utf-8")
    pd.DataFrame({"n": [1, 2], "t": ["a", "b"]}).to_parquet(tmp_path / "nums.parquet")
    with pytest.raises(InputError, match="holds no text"):
        load_dataset(tmp_path / "nums.parquet", text_column="n")
    with pytest.raises(InputError, match="use a .csv, .jsonl or .parquet"):
        read_table(b"text\nhi\n", "data.xlsx")


def test_size_and_row_limits(tmp_path):
    rows = "\n".join(f"sentence number {i}" for i in range(50))
    (tmp_path / "many.csv").write_text("text\n" + rows + "\n", encoding="utf-8")
    with pytest.raises(InputError, match="limit is"):
        load_dataset(tmp_path / "many.csv", max_bytes=100)
    with pytest.raises(InputError, match="50 rows; the limit is 10"):
        load_dataset(tmp_path / "many.csv", max_rows=10)
    ds = load_dataset(tmp_path / "many.csv", limit=5)
    assert len(ds) == 5 and ds.limited_to == 5 and ds.frame["text"].iloc[-1] == "sentence number 4"
    with pytest.raises(InputError, match="at least 1"):
        load_dataset(tmp_path / "many.csv", limit=0)
    ds = load_dataset((tmp_path / "many.csv").read_bytes(), filename="upload.csv", limit=3)
    assert ds.source == "upload.csv" and len(ds) == 3


def test_the_shipped_sample_set():
    ds = load_dataset("reviews", label_column="label", slice_columns=["topic"])
    assert SAMPLE_SETS["reviews"].is_file()
    assert 40 <= len(ds) <= 60 and ds.skipped_empty == 0
    assert set(ds.frame["label"]) == {"positive", "negative"}
    assert (SAMPLE_SETS["reviews"].parent / "README.md").read_text().count("CC0") == 1


def test_a_slice_column_named_like_a_role_keeps_both_apart():
    frame = pd.DataFrame({"text": ["Nice.", "Bad."], "label": ["x", "y"], "gold": ["positive", "negative"]})
    ds = prepare(frame, text_column="text", label_column="gold", slice_columns=["label", "text"])
    assert ds.frame["label"].tolist() == ["positive", "negative"]  # the gold labels, not the slice
    assert ds.frame["text"].tolist() == ["Nice.", "Bad."]
    assert ds.frame[slice_key("label")].tolist() == ["x", "y"]
    assert ds.frame[slice_key("text")].tolist() == ["Nice.", "Bad."]
    unlabelled = prepare(frame, text_column="text", slice_columns=["label"])
    assert unlabelled.frame["label"].tolist() == [None, None]  # no gold labels: accuracy stays n/a
