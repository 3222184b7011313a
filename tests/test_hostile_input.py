"""Odd arrays, odd labels and fits too large for memory: each works or is refused."""

import time
import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_iris
from sklearn.exceptions import NotFittedError

from softreg import SoftmaxRegression, _robust, _solvers

pd = pytest.importorskip("pandas")


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return X, y


@pytest.fixture(scope="module")
def reference(iris):
    X, y = iris
    return SoftmaxRegression().fit(X, y)


def _same_model(clf, ref, rtol=1e-7):
    assert_array_equal(clf.classes_, ref.classes_)
    assert_allclose(clf.coef_, ref.coef_, rtol=rtol, atol=1e-9)
    assert_allclose(clf.intercept_, ref.intercept_, rtol=rtol, atol=1e-9)


def test_read_only_memmap(iris, reference, tmp_path):
    # As joblib hands large arrays to its worker processes.
    X, y = iris
    path = tmp_path / "X.dat"
    mm = np.memmap(path, dtype=np.float64, mode="w+", shape=X.shape)
    mm[:] = X
    mm.flush()
    del mm
    Xr = np.memmap(path, dtype=np.float64, mode="r", shape=X.shape)
    assert not Xr.flags.writeable
    yr = np.array(y)
    yr.flags.writeable = False
    clf = SoftmaxRegression().fit(Xr, yr)
    _same_model(clf, reference, rtol=0)
    assert_array_equal(clf.predict_proba(Xr), reference.predict_proba(X))
    # temperature="auto" slices the folds out of the read-only array.
    auto = SoftmaxRegression(temperature="auto", random_state=0)
    assert auto.fit(Xr, yr).temperature_ == auto.fit(X, y).temperature_


@pytest.mark.parametrize("dtype", [">f8", ">f4", "<f4"])
def test_byte_order_is_native_and_float32_stays_float32(iris, reference, dtype):
    X, y = iris
    Xb = X.astype(dtype)
    clf = SoftmaxRegression().fit(
        Xb, y.astype(">i8"), sample_weight=np.ones(150, ">f8")
    )
    assert clf.coef_.dtype == np.dtype(dtype).newbyteorder("=")
    assert clf.predict_proba(Xb).dtype == clf.coef_.dtype
    _same_model(clf, reference, rtol=1e-4 if "4" in dtype else 0)


def test_non_contiguous_and_fortran(iris, reference):
    X, y = iris
    wide = np.repeat(X, 2, axis=1)
    for Xo in (wide[:, ::2], np.asfortranarray(X), np.repeat(X, 2, axis=0)[::2]):
        assert not Xo.flags.c_contiguous
        clf = SoftmaxRegression().fit(Xo, y)
        _same_model(clf, reference)
        assert_allclose(clf.predict_proba(Xo), reference.predict_proba(X), rtol=1e-7)


def test_float16_is_upcast(iris):
    X, y = iris
    X16 = X.astype(np.float16)
    clf = SoftmaxRegression().fit(X16, y)
    assert clf.coef_.dtype == np.float64
    # Exactly the fit on the float16 values, widened.
    _same_model(clf, SoftmaxRegression().fit(X16.astype(np.float64), y), rtol=0)


def test_object_arrays_of_numbers(iris, reference):
    X, y = iris
    _same_model(SoftmaxRegression().fit(X.astype(object), y), reference)
    with pytest.raises(ValueError, match="could not convert string to float"):
        SoftmaxRegression().fit(np.array([["a", 1.0]] * 4, dtype=object), [0, 1] * 2)


def test_pandas_nullable_columns(iris, reference):
    X, y = iris
    df = pd.DataFrame(X, columns=list("abcd"))
    clf = SoftmaxRegression().fit(df.astype("Float64"), y)
    _same_model(clf, reference)
    assert list(clf.feature_names_in_) == list("abcd")
    ints = (df * 10).round().astype("Int64")
    _same_model(
        SoftmaxRegression().fit(ints, y),
        SoftmaxRegression().fit(ints.to_numpy(dtype=float), y),
        rtol=0,
    )
    with_na = df.astype("Float64")
    with_na.iloc[3, 1] = pd.NA
    with pytest.raises(ValueError, match=r"missing values \(pd.NA or NaN\).*\['b'\]"):
        SoftmaxRegression().fit(with_na, y)
    with pytest.raises(ValueError, match=r"\['b'\]"):
        clf.predict(with_na)


def test_pandas_label_types(iris):
    X, y = iris
    names = np.array(["setosa", "versicolor", "virginica"])
    cat = pd.Series(pd.Categorical(names[y]))
    clf = SoftmaxRegression().fit(X, cat)
    assert_array_equal(clf.classes_, names)
    assert_array_equal(clf.predict(X), SoftmaxRegression().fit(X, names[y]).predict(X))
    for labels in (
        y[:100] == 1,
        pd.Series(y[:100] == 1),
        pd.Series(y[:100] == 1, dtype="boolean"),
    ):
        clf = SoftmaxRegression().fit(X[:100], labels)
        assert clf.classes_.dtype == bool
        assert_array_equal(clf.classes_, [False, True])
    clf = SoftmaxRegression().fit(X, pd.Series(y + 5, dtype="Int64"))
    assert clf.classes_.dtype.kind == "i"
    assert_array_equal(clf.classes_, [5, 6, 7])
    with pytest.raises(ValueError, match=r"1 missing label\(s\) \(pd.NA\)"):
        SoftmaxRegression().fit(X[:3], pd.Series([True, pd.NA, False], dtype="boolean"))


def test_polars_frames(iris, reference):
    pl = pytest.importorskip("polars")
    X, y = iris
    frame = pl.DataFrame(X, schema=list("abcd"))
    labels = pl.Series(np.array(["x", "y", "z"])[y])
    clf = SoftmaxRegression().fit(frame, labels)
    assert list(clf.feature_names_in_) == list("abcd")
    assert_allclose(clf.coef_, reference.coef_, rtol=1e-7, atol=1e-9)
    assert_array_equal(
        clf.predict(frame), np.array(["x", "y", "z"])[reference.predict(X)]
    )
    with pytest.raises(ValueError, match="NaN"):
        SoftmaxRegression().fit(
            frame.with_columns(
                pl.when(pl.col("a") > 7).then(None).otherwise(pl.col("a")).alias("a")
            ),
            labels,
        )


# --- resource limits -------------------------------------------------------


def test_huge_parameter_vector_is_refused_before_allocating():
    # 10^6 features x 10^5 classes: 10^11 parameters, 745 GiB for one vector.
    n_classes, n_features = 10**5, 10**6
    rows = np.arange(2 * n_classes)
    X = sp.csr_matrix(
        (np.ones(rows.size), (rows, rows % n_features)), shape=(rows.size, n_features)
    )
    y = rows % n_classes
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(MemoryError, match=r"GiB.*parameters [\d.]+ GiB") as info:
            SoftmaxRegression().fit(X, y)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert f"{n_features} features x {n_classes} classes" in str(info.value)
    # Refused from the shapes alone: nothing like n_params was allocated.
    assert peak < 200 * 2**20
    assert time.perf_counter() - start < 60


def test_out_of_fold_scores_and_buffers_are_counted(iris, monkeypatch):
    X, y = iris
    parts = _robust.fit_memory_bytes(
        X, 3, fit_intercept=True, n_threads=2, out_of_fold=True
    )
    assert parts["out-of-fold scores"] == 150 * 3 * 8
    assert parts["parameters"] == 40 * 15 * 8
    assert parts["gradient buffers"] == 8 * 4 * 3 * 8
    assert parts["fold copies"] == X.nbytes
    # With little memory left, temperature="auto" is refused for its
    # out-of-fold work while a fixed temperature still fits.
    budget = sum(parts.values()) - parts["out-of-fold scores"]
    monkeypatch.setattr(_solvers, "available_memory", lambda: budget)
    with pytest.raises(MemoryError, match=r"out-of-fold scores.*fixed temperature"):
        SoftmaxRegression(temperature="auto", n_jobs=2).fit(X, y)
    SoftmaxRegression(n_jobs=2).fit(X, y)


def test_refused_fit_leaves_estimator_unfitted(iris, monkeypatch):
    X, y = iris
    clf = SoftmaxRegression().fit(X, y)
    monkeypatch.setattr(_solvers, "available_memory", lambda: 1024)
    with pytest.raises(MemoryError):
        clf.fit(X, y)
    with pytest.raises(NotFittedError):
        clf.predict(X)


def test_unaligned_input_is_copied_aligned_and_fits_the_same():
    X, y = load_iris(return_X_y=True)
    X = X.astype(np.float32)
    # A float32 view at an odd byte offset, as arrays received from a
    # dask.distributed cluster can be.
    buffer = np.zeros(X.nbytes + 1, dtype=np.uint8)
    unaligned = np.frombuffer(buffer.data, dtype=np.float32, count=X.size, offset=1)
    unaligned = unaligned.reshape(X.shape)
    unaligned[...] = X
    assert not unaligned.flags.aligned
    ref = SoftmaxRegression().fit(X, y)
    model = SoftmaxRegression().fit(unaligned, y)
    assert_array_equal(model.coef_, ref.coef_)
    assert_array_equal(model.predict_proba(unaligned), ref.predict_proba(X))
