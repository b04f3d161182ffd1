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


# ---- a run never silently lies (issue 11) ------------------------------------------------

@pytest.mark.parametrize("text, needle", [
    # a NaN target used to become the class 'nan' next to '0' and '1'
    ("a,y\n1,0\n2,1\n3,nan\n4,1\n", r"line 4, column 'y': target value 'nan' is not a finite"),
    ("a,y\n1,0\n2,1\n3,\n", r"line 4, column 'y': empty target value"),
    ("a,y\n1,0.5\n2,-Infinity\n", r"line 3, column 'y': target value '-Infinity' is not a fin"),
])
def test_non_finite_or_empty_target_is_an_error(tmp_path, text, needle):
    with pytest.raises(ValueError, match=r"data\.csv, " + needle):
        load_csv(_write(tmp_path, text))


def test_float_target_with_one_inf_is_an_error_not_61_classes(tmp_path):
    rows = "".join(f"{i},{i * 0.37:.2f}\n" for i in range(60)) + "60,inf\n"
    with pytest.raises(ValueError, match=r"line 62, column 'y': target value 'inf'"):
        load_csv(_write(tmp_path, "x,y\n" + rows))


@pytest.mark.parametrize("cell, needle", [
    ("nan", "cannot read 'nan' as a finite number"),
    ("-inf", "cannot read '-inf' as a finite number"),
    ("1e39", "'1e39' is outside the float32 range"),  # finite in float64, inf in float32
    ("  ", "cannot read an empty value"),
])
def test_non_finite_feature_cells_name_the_cell(tmp_path, cell, needle):
    p = _write(tmp_path, f"a,b,y\n1,2,0\n3,{cell},1\n")
    with pytest.raises(ValueError, match=rf"data\.csv, line 3, column 'b': {needle}"):
        load_csv(p)
    with pytest.raises(ValueError, match=r"line 3, column 'b'"):
        load_csv_features(p, ["a", "b"])


def test_regression_target_out_of_float32_range(tmp_path):
    p = _write(tmp_path, "a,y\n1,0.5\n2,-3e40\n")
    with pytest.raises(ValueError, match=r"line 3, column 'y': target value '-3e40' is outside"):
        load_csv(p)


@pytest.mark.parametrize("cells, task, classes", [
    (["setosa", "virginica", "setosa"], "classification", ["setosa", "virginica"]),
    (["true", "false", "true"], "classification", ["false", "true"]),
    (["3", "5", "3.0"], "classification", [3, 5]),  # whole numbers, few values
    (["-1", "1", "1"], "classification", [-1, 1]),
    (["0.5", "1.25", "0.5"], "regression", None),  # a fraction: regression
    ([str(i) for i in range(21)], "regression", None),  # 21 > MAX_AUTO_CLASSES values
    ([str(i) for i in range(20)], "classification", list(range(20))),
])
def test_auto_task_rule(tmp_path, cells, task, classes):
    p = _write(tmp_path, "x,y\n" + "".join(f"{i},{c}\n" for i, c in enumerate(cells)))
    X, y, info = load_csv(p)
    assert info["task"] == task and info["classes"] == classes
    assert y.dtype == (np.int64 if task == "classification" else np.float32)


def test_numbers_mixed_with_text_need_an_explicit_task(tmp_path):
    p = _write(tmp_path, "x,y\n1,0.5\n2,1.5\n3,NA\n4,2.5\n")
    with pytest.raises(ValueError, match=r"line 4, column 'y': target value 'NA' is text but "
                                         r"3 others are numbers.*--task classification"):
        load_csv(p)
    with pytest.raises(ValueError, match=r"line 4, column 'y': target value 'NA' is text: a "
                                         "regression target must be numeric"):
        load_csv(p, task="regression")
    mostly_text = _write(tmp_path, "x,y\n1,a\n2,b\n3,7\n", "m.csv")
    with pytest.raises(ValueError, match=r"line 4, column 'y': target value '7' is a number"):
        load_csv(mostly_text)
    X, y, info = load_csv(mostly_text, task="classification")  # every value a text label
    assert info["classes"] == ["7", "a", "b"] and y.tolist() == [1, 2, 0]


def test_forced_tasks_refuse_what_does_not_fit(tmp_path):
    fractions = _write(tmp_path, "x,y\n1,0.5\n2,2\n3,1.5\n")
    with pytest.raises(ValueError, match=r"line 2, column 'y': target value '0.5' is not a "
                                         "whole number"):
        load_csv(fractions, task="classification")
    text = _write(tmp_path, "x,y\n1,a\n2,b\n", "t.csv")
    with pytest.raises(ValueError, match=r"t\.csv, line 2, column 'y'.*regression"):
        load_csv(text, task="regression")
    with pytest.raises(ValueError, match="task must be one of auto, classification"):
        load_csv(text, task="cls")


@pytest.mark.parametrize("cells", [["4", "4", "4.0"], ["a", "a", "a"]])
def test_a_constant_target_is_an_error(tmp_path, cells):
    p = _write(tmp_path, "x,y\n" + "".join(f"{i},{c}\n" for i, c in enumerate(cells)))
    with pytest.raises(ValueError, match=r"column 'y' has the same value .* in all 3 rows"):
        load_csv(p)


def test_tired_user_files(tmp_path):
    # BOM, CRLF, quoted numbers with spaces, a trailing row of empty cells and blank lines
    p = tmp_path / "excel.csv"
    p.write_bytes('\ufeff"a","b","kind"\r\n"1", 2 ,x\r\n3,"4.5", z \r\n,,\r\n\r\n'
                  .encode("utf-8"))
    X, y, info = load_csv(p)
    assert info["feature_names"] == ["a", "b"] and X.tolist() == [[1, 2], [3, 4.5]]
    assert info["classes"] == ["x", "z"] and info["num_rows"] == 2
    mac = tmp_path / "mac.csv"
    mac.write_bytes(b"a,y\r1,0\r2,1\r")  # lines ended by '\r' alone
    assert load_csv(mac)[1].tolist() == [0, 1]
    with pytest.raises(ValueError, match=r"line 1: column name 'a' appears twice"):
        load_csv(_write(tmp_path, "a,a,y\n1,2,0\n", "dup.csv"))
    with pytest.raises(ValueError, match=r"line 2, column 'b': cannot read an empty value"):
        load_csv(_write(tmp_path, "a,b,y\n1,,0\n2,,1\n", "empty_column.csv"))
    with pytest.raises(ValueError, match=r"headerless\.csv, line 1: the header holds only "
                                         "numbers"):
        load_csv(_write(tmp_path, "5.1,3.5,0\n4.9,3.0,1\n", "headerless.csv"))
    with pytest.raises(ValueError, match=r"line 3: expected 3 values.*found 4"):
        load_csv(_write(tmp_path, "a,b,y\n1,2,0\n1,2,3,4\n", "ragged.csv"))


def test_errors_and_labels_across_chunks(tmp_path, monkeypatch):
    """Rows are parsed a chunk at a time: lines and class codes stay right past a chunk."""
    import chainrule.data.csv as csv_module

    monkeypatch.setattr(csv_module, "_CHUNK_CELLS", 30)  # 10 rows of 3 columns per chunk
    labels = ["b"] * 25 + ["a"] * 5 + ["c"] * 5
    rows = "".join(f"{i},{i % 7},{c}\n" for i, c in enumerate(labels))
    X, y, info = load_csv(_write(tmp_path, "i,j,k\n" + rows))
    assert info["classes"] == ["a", "b", "c"] and X[:, 0].tolist() == list(range(35))
    assert y.tolist() == [{"a": 0, "b": 1, "c": 2}[c] for c in labels]
    bad = rows.replace("27,6,a", "27,x,a")
    with pytest.raises(ValueError, match=r"line 29, column 'j': cannot read 'x'"):
        load_csv(_write(tmp_path, "i,j,k\n" + bad, "bad.csv"))
    # a wrong upper bound on the rows (the file grew while read) only costs a regrowth
    monkeypatch.setattr(csv_module, "_row_bound", lambda path, width: 2)
    X2, y2, _ = load_csv(_write(tmp_path, "i,j,k\n" + rows, "again.csv"))
    assert np.array_equal(X, X2) and np.array_equal(y, y2)


def _big_csv(path, mib):
    """About ``mib`` MiB: 10 features, a float target and an integer label (3 values)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(5000, 10))
    block = "".join(",".join(f"{v:.6f}" for v in row) + f",{row.sum() * 3.7:.5f},{i % 3}\n"
                    for i, row in enumerate(X))
    with open(path, "w") as f:
        f.write(",".join(f"f{i}" for i in range(10)) + ",price,label\n")
        for _ in range(max(1, int(mib * 2**20 / len(block)))):
            f.write(block)
    return path


@pytest.mark.parametrize("target", ["price", "label"])
def test_peak_memory_stays_within_twice_the_arrays(tmp_path_factory, target):
    import tracemalloc

    path = tmp_path_factory.getbasetemp() / "big.csv"
    if not path.exists():
        _big_csv(path, 20)
    tracemalloc.start()
    try:
        X, y, info = load_csv(path, target=target)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    arrays = X.nbytes + y.nbytes
    assert X.shape[1] == 11 and info["num_rows"] == len(X) > 150_000
    assert info["task"] == ("regression" if target == "price" else "classification")
    # the whole file as Python strings took 20x the arrays (9.9x the file)
    assert peak <= 2 * arrays, f"peak {peak / 2**20:.1f} MiB for {arrays / 2**20:.1f} MiB"
