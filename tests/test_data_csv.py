"""load_csv / load_csv_features, including the error messages for malformed files."""

import numpy as np
import pytest

from chainrule.data import load_csv, load_csv_features


def _write(tmp_path, text, name="data.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_good_file_integer_labels(tmp_path):
    p = _write(tmp_path, "a,b,label\n1,2,3\n3.5,4,5\n\n5,6,3\n")
    X, y, info = load_csv(p)
    assert X.dtype == np.float32 and X.tolist() == [[1, 2], [3.5, 4], [5, 6]]
    assert y.dtype == np.int64 and y.tolist() == [0, 1, 0]
    assert info["classes"] == [3, 5] and info["task"] == "classification"
    assert info["feature_names"] == ["a", "b"] and info["target"] == "label"


def test_string_labels_and_named_target(tmp_path):
    p = _write(tmp_path, "species,x1,x2\nsetosa,1,2\nvirginica,3,4\nsetosa,5,6\n")
    X, y, info = load_csv(p, target="species")
    assert info["classes"] == ["setosa", "virginica"]
    assert y.tolist() == [0, 1, 0] and X.shape == (3, 2)
    assert info["feature_names"] == ["x1", "x2"]


def test_regression_target(tmp_path):
    p = _write(tmp_path, "x,y\n1,0.5\n2,1.25\n3,2.75\n")
    X, y, info = load_csv(p)
    assert info["task"] == "regression" and info["classes"] is None
    assert y.dtype == np.float32 and y.shape == (3, 1)
    assert y.ravel().tolist() == [0.5, 1.25, 2.75]


def test_many_integer_values_is_regression_unless_forced(tmp_path):
    rows = "".join(f"{i},{i * 2}\n" for i in range(30))
    p = _write(tmp_path, "x,y\n" + rows)
    assert load_csv(p)[2]["task"] == "regression"
    X, y, info = load_csv(p, task="classification")
    assert info["task"] == "classification" and len(info["classes"]) == 30


def test_no_header_and_delimiter(tmp_path):
    p = _write(tmp_path, "1;2;0\n3;4;1\n")
    X, y, info = load_csv(p, header=False, delimiter=";")
    assert info["feature_names"] == ["column_1", "column_2"]
    assert y.tolist() == [0, 1]


def test_bad_value_names_file_line_column(tmp_path):
    p = _write(tmp_path, "a,b,label\n1,2,0\n\n3,oops,1\n")
    with pytest.raises(ValueError) as e:
        load_csv(p)
    msg = str(e.value)
    assert "data.csv" in msg and "line 4" in msg and "'b'" in msg and "'oops'" in msg


def test_empty_value_reported(tmp_path):
    p = _write(tmp_path, "a,b,label\n1,,0\n")
    with pytest.raises(ValueError, match=r"line 2, column 'b'.*empty"):
        load_csv(p)


def test_missing_target_column_lists_available(tmp_path):
    p = _write(tmp_path, "a,b,label\n1,2,0\n")
    with pytest.raises(ValueError, match=r"'target' not found.*a, b, label"):
        load_csv(p, target="target")


def test_empty_and_header_only_files(tmp_path):
    with pytest.raises(ValueError, match=r"empty\.csv.*empty"):
        load_csv(_write(tmp_path, "", "empty.csv"))
    with pytest.raises(ValueError, match="empty"):
        load_csv(_write(tmp_path, "\n\n", "blank.csv"))
    with pytest.raises(ValueError, match="no data rows"):
        load_csv(_write(tmp_path, "a,b\n", "head.csv"))


def test_ragged_row(tmp_path):
    p = _write(tmp_path, "a,b,label\n1,2,0\n1,2\n")
    with pytest.raises(ValueError, match=r"data\.csv, line 3: expected 3 values.*found 2"):
        load_csv(p)


def test_missing_file_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        load_csv(tmp_path / "nope.csv")


def test_regression_target_must_be_numeric(tmp_path):
    p = _write(tmp_path, "a,y\n1,2\n2,x\n")
    with pytest.raises(ValueError, match=r"line 3, column 'y'.*regression"):
        load_csv(p, task="regression")


def test_load_csv_features(tmp_path):
    p = _write(tmp_path, "b,extra,a,label\n2,9,1,0\n4,9,3,1\n")
    X = load_csv_features(p, ["a", "b"])
    assert X.dtype == np.float32 and X.tolist() == [[1, 2], [3, 4]]
    with pytest.raises(ValueError, match=r"missing feature column\(s\) 'c'.*b, extra, a, label"):
        load_csv_features(p, ["a", "c"])
    bad = _write(tmp_path, "a,b\n1,2\nx,3\n", "bad.csv")
    with pytest.raises(ValueError, match=r"bad\.csv, line 3, column 'a'"):
        load_csv_features(bad, ["a", "b"])
    plain = _write(tmp_path, "1,2\n3,4\n", "plain.csv")
    assert load_csv_features(plain, ["a", "b"], header=False).tolist() == [[1, 2], [3, 4]]
    with pytest.raises(ValueError, match="exactly 3 columns"):
        load_csv_features(plain, ["a", "b", "c"], header=False)
