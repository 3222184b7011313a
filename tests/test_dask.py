"""Fitting and predicting on Dask collections, against the in-memory fits."""

import logging
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_iris, make_classification
from sklearn.exceptions import DataConversionWarning

from softreg import SoftmaxRegression
from softreg._dask import _fold_ids
from softreg.normalizers import Softmax
from softreg.normalizers._registry import NORMALIZERS

da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")
pd = pytest.importorskip("pandas")


def _problem(n=1200, p=8, k=4, seed=0, dtype=np.float64):
    X, y = make_classification(
        n, p, n_informative=6, n_redundant=0, n_classes=k, random_state=seed
    )
    # Raw, unscaled features: the standardising statistics of the first pass
    # matter.
    X = (X * np.arange(1, p + 1) + 3.0).astype(dtype)
    sw = np.random.default_rng(seed).integers(0, 4, size=n).astype(dtype)
    return X, y, sw


def _dask(X, y=None, sw=None, rows=250):
    out = [da.from_array(X, chunks=(rows, X.shape[1]))]
    out += [da.from_array(a, chunks=rows) for a in (y, sw) if a is not None]
    return out


def _agree(dask_model, model, rtol=1e-6):
    scale = np.abs(model.coef_).max()
    assert_allclose(dask_model.coef_, model.coef_, atol=rtol * scale)
    assert_allclose(dask_model.intercept_, model.intercept_, atol=rtol * scale)
    assert dask_model.coef_.dtype == model.coef_.dtype


@pytest.mark.parametrize("solver", ["lbfgs", "newton-cg", "trust-ncg"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
# Newton-CG can end on float32 precision loss at tol=1e-6, in memory and on
# Dask alike: both fits are compared whatever their stopping reason.
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_dask_fit_equals_in_memory_fit(solver, dtype):
    X, y, sw = _problem(dtype=dtype)
    params = dict(C=0.5, tol=1e-6 if dtype == np.float32 else 1e-9, solver=solver)
    ref = SoftmaxRegression(**params).fit(X, y, sample_weight=sw)
    dX, dy, dsw = _dask(X, y, sw)
    model = SoftmaxRegression(**params).fit(dX, dy, sample_weight=dsw)
    # Same objective, same start, same standardisation: the same iterates up
    # to the order of the sums.
    # float32 sums over blocks of other sizes round differently: the fits
    # agree to what float32 resolves of this objective.
    _agree(model, ref, rtol=1e-3 if dtype == np.float32 else 1e-6)
    if dtype == np.float64:
        assert model.n_iter_ == pytest.approx(ref.n_iter_, abs=2)
    assert model.n_passes_ >= model.n_iter_


@pytest.mark.parametrize("normalizer", sorted(NORMALIZERS))
def test_every_normalizer_fits_on_dask(normalizer):
    X, y, _ = _problem(n=600, seed=1)
    params = dict(normalizer=normalizer, C=0.3, tol=1e-8, max_iter=2000, random_state=0)
    ref = SoftmaxRegression(**params).fit(X, y)
    dX, dy = _dask(X, y, rows=150)
    model = SoftmaxRegression(**params).fit(dX, dy)
    # Non-convex losses amplify the rounding differences of the sums a little.
    rtol = 1e-5 if model.normalizer_.convex else 1e-4
    _agree(model, ref, rtol=rtol)
    assert_allclose(model.predict_proba(dX).compute(), ref.predict_proba(X), atol=rtol)


@pytest.mark.parametrize("class_weight", ["balanced", {0: 2.0, 1: 0.5, 2: 1.0, 3: 3.0}])
def test_class_weight_and_warm_start(class_weight):
    X, y, sw = _problem(seed=2)
    params = dict(C=2.0, tol=1e-9, class_weight=class_weight)
    ref = SoftmaxRegression(**params).fit(X, y, sample_weight=sw)
    dX, dy, dsw = _dask(X, y, sw)
    model = SoftmaxRegression(warm_start=True, **params).fit(dX, dy, dsw)
    _agree(model, ref)
    # A warm start at the optimum needs no step.
    model.fit(dX, dy, dsw)
    assert model.n_iter_ <= 1
    _agree(model, ref)


def test_sparse_chunks_equal_dense_fit():
    X, y, _ = _problem(seed=3)
    X[np.abs(X) < 4] = 0
    dX = da.from_array(X, chunks=(300, X.shape[1])).map_blocks(
        sp.csr_matrix, meta=sp.csr_matrix((0, 0))
    )
    dy = da.from_array(y, chunks=300)
    ref = SoftmaxRegression(tol=1e-9).fit(sp.csr_matrix(X), y)
    model = SoftmaxRegression(tol=1e-9).fit(dX, dy)
    _agree(model, ref)
    assert_allclose(model.predict_proba(dX).compute(), ref.predict_proba(X), atol=1e-9)


def test_fits_are_bit_identical_run_to_run():
    X, y, sw = _problem(seed=4)
    dX, dy, dsw = _dask(X, y, sw, rows=97)
    fits = [SoftmaxRegression(tol=1e-8).fit(dX, dy, dsw) for _ in range(2)]
    assert_array_equal(fits[0].coef_, fits[1].coef_)
    assert_array_equal(fits[0].intercept_, fits[1].intercept_)


def test_predictions_are_lazy_with_the_rows_chunks():
    X, y, _ = _problem(n=500, k=2, seed=5)
    model = SoftmaxRegression().fit(X, y)
    (dX,) = _dask(X, rows=120)
    for method in ["predict_proba", "predict_log_proba", "decision_function"]:
        out = getattr(model, method)(dX)
        assert isinstance(out, da.Array)
        assert out.chunks[0] == dX.chunks[0]
        assert_allclose(out.compute(), getattr(model, method)(X), rtol=1e-12)
    assert model.decision_function(dX).shape == (500,)
    labels = model.predict(dX)
    assert isinstance(labels, da.Array)
    assert_array_equal(labels.compute(), model.predict(X))
    assert model.score(dX, da.from_array(y, chunks=77)) == model.score(X, y)
    sw = np.arange(500.0)
    assert model.score(dX, y, sample_weight=sw) == pytest.approx(
        model.score(X, y, sample_weight=sw), rel=1e-12
    )


# Dask says so when a string Series becomes an object array: expected here.
@pytest.mark.filterwarnings("ignore:Dask currently has limited support:UserWarning")
def test_dataframes_keep_feature_names_and_string_labels():
    X, y = load_iris(return_X_y=True, as_frame=True)
    labels = pd.Series(np.array(["setosa", "versicolor", "virginica"])[y])
    ddf = dd.from_pandas(X, npartitions=3)
    dy = dd.from_pandas(labels, npartitions=3)
    model = SoftmaxRegression(tol=1e-9).fit(ddf, dy)
    ref = SoftmaxRegression(tol=1e-9).fit(X, labels)
    assert_array_equal(model.feature_names_in_, X.columns)
    assert_array_equal(model.classes_, ref.classes_)
    _agree(model, ref)
    proba = model.predict_proba(ddf)
    assert isinstance(proba, da.Array)  # dataframe in, dask array out
    assert_allclose(proba.compute(), ref.predict_proba(X), atol=1e-12)
    assert_array_equal(model.predict(ddf).compute(), ref.predict(X))
    assert model.score(ddf, dy) == ref.score(X, labels)
    # Rows filtered by a mask have unknown partition lengths: counted once.
    keep = ddf["sepal length (cm)"] > 5.0
    model = SoftmaxRegression(tol=1e-9).fit(ddf[keep], dy[keep])
    mask = (X["sepal length (cm)"] > 5.0).to_numpy()
    ref = SoftmaxRegression(tol=1e-9).fit(X[mask], labels[mask])
    _agree(model, ref)


def test_models_cross_between_numpy_and_dask_and_pickle():
    X, y, _ = _problem(seed=6)
    dX, dy = _dask(X, y)
    dask_model = SoftmaxRegression().fit(dX, dy)
    assert isinstance(dask_model.coef_, np.ndarray)
    clone = pickle.loads(pickle.dumps(dask_model))
    assert_array_equal(clone.predict_proba(X), dask_model.predict_proba(X))
    numpy_model = SoftmaxRegression().fit(X, y)
    assert_allclose(
        numpy_model.predict_proba(dX).compute(), numpy_model.predict_proba(X)
    )


def test_misaligned_chunks_and_numpy_weights_are_aligned():
    X, y, sw = _problem(seed=7)
    ref = SoftmaxRegression(tol=1e-9).fit(X, y, sample_weight=sw)
    dX = da.from_array(X, chunks=(250, 3))  # several column chunks too
    dy = da.from_array(y, chunks=333)
    model = SoftmaxRegression(tol=1e-9).fit(dX, dy, sample_weight=sw)
    _agree(model, ref)
    # y in memory, X in Dask
    model = SoftmaxRegression(tol=1e-9).fit(dX, y, sample_weight=sw)
    _agree(model, ref)


def test_temperature_auto_matches_in_memory_with_the_same_folds():
    X, y, _ = _problem(n=900, seed=8)
    rows = 300
    dX, dy = _dask(X, y, rows=rows)
    model = SoftmaxRegression(
        C=50.0, temperature="auto", cv=3, random_state=0, tol=1e-9
    ).fit(dX, dy)
    # The folds the Dask fit drew, chunk by chunk, handed to the in-memory fit.
    seed = np.random.RandomState(0).randint(np.iinfo(np.int32).max)
    folds = np.concatenate(
        [
            _fold_ids(y[i : i + rows], 3, seed, block_id=(i // rows,))
            for i in range(0, y.size, rows)
        ]
    )
    counts = [np.bincount(y[folds == k], minlength=4) for k in range(3)]
    assert np.ptp(counts, axis=0).max() <= 3  # stratified within each chunk
    cv = [(np.flatnonzero(folds != k), np.flatnonzero(folds == k)) for k in range(3)]
    ref = SoftmaxRegression(C=50.0, temperature="auto", cv=cv, tol=1e-9).fit(X, y)
    assert model.temperature_ == pytest.approx(ref.temperature_, rel=1e-6)
    _agree(model, ref)
    with pytest.raises(ValueError, match="cv to be an int"):
        SoftmaxRegression(temperature="auto", cv=cv).fit(dX, dy)


def test_streaming_from_zarr_without_persist(tmp_path):
    zarr = pytest.importorskip("zarr")
    X, y, _ = _problem(seed=9, dtype=np.float32)
    store = str(tmp_path / "x.zarr")
    da.from_array(X, chunks=(200, X.shape[1])).to_zarr(store)
    dX = da.from_zarr(store)
    assert zarr is not None
    model = SoftmaxRegression(tol=1e-6).fit(dX, da.from_array(y, chunks=200))
    ref = SoftmaxRegression(tol=1e-6).fit(X, y)
    _agree(model, ref, rtol=1e-3)


# Bad input: the errors of the in-memory path, with its messages.


def test_non_finite_x_is_found_in_the_first_pass():
    X, y, _ = _problem(seed=10)
    X[700, 3] = np.nan
    dX, dy = _dask(X, y)
    with pytest.raises(ValueError, match="Input X contains NaN"):
        SoftmaxRegression().fit(dX, dy)
    X[700, 3] = np.inf
    with pytest.raises(ValueError, match="Input X contains infinity"):
        SoftmaxRegression().fit(*_dask(X, y))
    model = SoftmaxRegression().fit(*_problem(seed=10)[:2])
    with pytest.raises(ValueError, match="Input X contains infinity"):
        model.predict_proba(_dask(X)[0]).compute()


def test_bad_labels_weights_and_shapes():
    X, y, sw = _problem(seed=11)
    dX = _dask(X)[0]
    with pytest.raises(ValueError, match="only one class"):
        SoftmaxRegression().fit(dX, da.zeros(X.shape[0], chunks=250))
    with pytest.raises(ValueError, match="Unknown label type"):
        SoftmaxRegression().fit(dX, da.from_array(y + 0.5, chunks=250))
    sw[5] = -1
    with pytest.raises(ValueError, match="Negative values in data passed to"):
        SoftmaxRegression().fit(dX, y, sample_weight=da.from_array(sw, chunks=250))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        SoftmaxRegression().fit(dX, da.from_array(y[:-1], chunks=250))
    with pytest.warns(DataConversionWarning):
        SoftmaxRegression().fit(dX, da.from_array(y[:, None], chunks=250))
    model = SoftmaxRegression().fit(dX, y)
    with pytest.raises(ValueError, match="is expecting 8 features"):
        model.predict(dX[:, :5])


def test_import_softreg_does_not_import_dask():
    code = (
        "import sys, softreg; "
        "print(sorted(m for m in ('dask', 'distributed') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


# A real cluster: worker processes, data and tasks pickled across.


class _DyingSoftmax(Softmax):
    """Softmax whose first call on any worker after ``flag`` appears kills it."""

    def __init__(self, flag):
        self.flag = flag

    def loss_gradient(self, Y, Z):
        try:
            os.unlink(self.flag)  # only one worker wins the unlink
        except FileNotFoundError:
            return super().loss_gradient(Y, Z)
        os._exit(1)


@pytest.fixture(scope="module")
def cluster_client():
    distributed = pytest.importorskip("distributed")
    cloudpickle = pytest.importorskip("cloudpickle")
    # The workers cannot import this test module: ship its classes by value.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client
    cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


def test_local_cluster_fit_and_predict(cluster_client):
    X, y, sw = _problem(seed=12)
    dX, dy, dsw = (a.persist() for a in _dask(X, y, sw))
    params = dict(C=0.5, tol=1e-9, solver="newton-cg")
    model = SoftmaxRegression(**params).fit(dX, dy, sample_weight=dsw)
    ref = SoftmaxRegression(**params).fit(X, y, sample_weight=sw)
    _agree(model, ref)
    # A refit on the cluster is not promised bit for bit: chunks that move
    # between worker processes land at other memory offsets, and some SIMD
    # and BLAS kernels (OpenBLAS's SkylakeX ones) round differently there.
    # Both fits meet tol, so they are within twice the distance that allows
    # from the optimum (strong convexity 1 / (C S) along the coefficients).
    again = SoftmaxRegression(**params).fit(dX, dy, sample_weight=dsw)
    n_params = (X.shape[1] + 1) * model.classes_.size
    bound = 2 * np.sqrt(n_params) * params["tol"] * params["C"] * sw.sum()
    assert_allclose(again.coef_, model.coef_, rtol=0, atol=bound)
    assert_allclose(model.predict_proba(dX).compute(), ref.predict_proba(X), atol=1e-9)
    assert model.score(dX, dy) == ref.score(X, y)


def test_local_cluster_survives_a_lost_worker(cluster_client, tmp_path):
    X, y, _ = _problem(seed=13)
    dX, dy = _dask(X, y)
    flag = tmp_path / "kill-a-worker"
    flag.touch()
    model = SoftmaxRegression(normalizer=_DyingSoftmax(str(flag)), tol=1e-9)
    model.fit(dX, dy)
    assert not flag.exists()  # a worker did die mid-fit
    # Dask recomputed the lost tasks: the fit is the one without the loss.
    ref = SoftmaxRegression(tol=1e-9).fit(X, y)
    _agree(model, ref)
    assert len(cluster_client.scheduler_info()["workers"]) >= 1


def test_elastic_net_and_bounds_on_dask():
    X, y, sw = _problem(seed=14)
    params = dict(C=0.2, l1_ratio=0.7, bounds=(-0.5, np.inf), tol=1e-8, max_iter=1000)
    ref = SoftmaxRegression(**params).fit(X, y, sample_weight=sw)
    model = SoftmaxRegression(**params).fit(*_dask(X, y, sw))
    # Both meet tol; the objective is (1 - l1_ratio) / (C S)-strongly convex,
    # so each is within sqrt(P) tol C S / (1 - l1_ratio) of the optimum.
    n_params = (X.shape[1] + 1) * ref.classes_.size
    bound = np.sqrt(n_params) * params["tol"] * params["C"] * sw.sum() / 0.3
    assert_allclose(model.coef_, ref.coef_, rtol=0, atol=2 * bound)
    assert_allclose(model.intercept_, ref.intercept_, rtol=0, atol=2 * bound)
    assert_array_equal(model.coef_ == 0, ref.coef_ == 0)
    assert model.coef_.min() >= -0.5
