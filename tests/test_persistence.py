"""Pickle and joblib round trips, and models pickled by an earlier version."""

import copy as copy_module
import importlib.util
import io
import pickle
import warnings
from pathlib import Path

import joblib
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_iris

from softreg import SoftmaxRegression, SoftmaxRegressionCV
from softreg.normalizers import Spherical

DATA = Path(__file__).parent / "data"
NORMALIZERS = ["softmax", "taylor", "spherical", "sparsemax", "entmax15", "standard"]


@pytest.mark.parametrize("normalizer", [*NORMALIZERS, Spherical(eps=0.5)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pickle_and_joblib_round_trips_are_bit_exact(normalizer, dtype, tmp_path):
    X, y = load_iris(return_X_y=True)
    X = X.astype(dtype)
    clf = SoftmaxRegression(
        normalizer=normalizer, temperature=1.3, random_state=0, max_iter=300
    ).fit(X, np.array(["a", "b", "c"])[y])
    joblib.dump(clf, tmp_path / "model.joblib")
    copies = [
        pickle.loads(pickle.dumps(clf)),
        joblib.load(tmp_path / "model.joblib"),
    ]
    for copy in copies:
        assert copy is not clf
        assert_array_equal(copy.coef_, clf.coef_)
        assert copy.coef_.dtype == clf.coef_.dtype
        assert_array_equal(copy.intercept_, clf.intercept_)
        assert repr(copy.normalizer_) == repr(clf.normalizer_)
        assert copy.temperature_ == clf.temperature_
        assert_array_equal(copy.predict_proba(X), clf.predict_proba(X))
        assert_array_equal(copy.predict(X), clf.predict(X))


def test_unfitted_estimator_pickles():
    clf = pickle.loads(pickle.dumps(SoftmaxRegression(C=3.0, normalizer="taylor")))
    assert clf.get_params()["C"] == 3.0
    X, y = load_iris(return_X_y=True)
    clf.fit(X, y)


def _make_script():
    spec = importlib.util.spec_from_file_location(
        "make_pickled_models", DATA / "make_pickled_models.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _stored_models():
    files = sorted(DATA.glob("models-*.pkl"))
    assert files, "tests/data/make_pickled_models.py has not been run"
    return files


@pytest.mark.parametrize("path", _stored_models(), ids=lambda p: p.name)
def test_models_pickled_by_a_released_version_predict_identically(path):
    # A model file written by tests/data/make_pickled_models.py: a change that
    # breaks loading old pickles, or changes what they predict, fails here.
    with warnings.catch_warnings():
        # scikit-learn warns when the pickle came from another of its versions.
        warnings.simplefilter("ignore", UserWarning)
        with open(path, "rb") as f:
            payload = pickle.load(f)
    query = payload["query"]
    assert set(payload["models"]) == set(payload["expected"])
    # Bit for bit on the machine that wrote the file (files from before the
    # fingerprint was recorded have none); elsewhere other SIMD and BLAS
    # kernels round the scores differently, within the bound below.
    same_machine = payload.get("machine") == _make_script().machine_fingerprint()
    for name, model in payload["models"].items():
        expected = payload["expected"][name]
        Xq = query.astype(model.coef_.dtype)
        proba = model.predict_proba(Xq)
        decision = model.decision_function(Xq)
        if same_machine:
            assert_array_equal(proba, expected["predict_proba"])
            assert_array_equal(decision, expected["decision_function"])
            assert_array_equal(model.predict(Xq), expected["predict"])
        else:
            # A score x @ w + b of p terms rounds by at most about
            # p eps (|x| @ |w| + |b|) in the model's dtype (coef_ holds the
            # scores' coefficients, a pre-fold model's divided by T on load);
            # the normalizers' outputs move by at most a few times that.
            eps = np.finfo(model.coef_.dtype).eps
            magnitude = np.abs(Xq) @ np.abs(model.coef_).T + np.abs(model.intercept_)
            atol = 4 * Xq.shape[1] * eps * magnitude.max()
            np.testing.assert_allclose(proba, expected["predict_proba"], atol=atol)
            np.testing.assert_allclose(
                decision, expected["decision_function"], rtol=0, atol=4 * atol
            )
            # Labels agree wherever the top two probabilities are not tied
            # within that bound.
            top2 = np.sort(expected["predict_proba"], axis=1)[:, -2:]
            clear = top2[:, 1] - top2[:, 0] > 2 * atol
            assert_array_equal(
                model.predict(Xq)[clear], np.asarray(expected["predict"])[clear]
            )
        # ... and it can be refitted.
        assert model.fit(Xq, model.predict(Xq)).classes_.size >= 2


def test_pickle_does_not_carry_threads_or_locks():
    X, y = load_iris(return_X_y=True)
    clf = SoftmaxRegression(n_jobs=2).fit(X, y)
    buffer = io.BytesIO()
    pickle.dump(clf, buffer)
    assert buffer.tell() < 10_000


def test_copies_keep_the_folded_temperature_once():
    # coef_ holds the temperature; no copy may divide it again.
    X, y = load_iris(return_X_y=True)
    clf = SoftmaxRegression(temperature=2.0).fit(X, y)
    for copy in (copy_module.deepcopy(clf), pickle.loads(pickle.dumps(clf))):
        assert_array_equal(copy.coef_, clf.coef_)
        assert_array_equal(copy.decision_function(X), clf.decision_function(X))


@pytest.mark.parametrize("cls", [SoftmaxRegression, SoftmaxRegressionCV])
def test_a_state_from_before_the_folded_temperature_is_converted(cls):
    # What 0.1.0.dev0 pickled: the trained W in coef_ (and in SoftmaxRegressionCV's
    # coefs_paths_), divided by temperature_ in every predict method.
    X, y = load_iris(return_X_y=True)
    params = {"Cs": [0.1, 1.0], "cv": 3} if cls is SoftmaxRegressionCV else {}
    clf = cls(temperature=2.0, **params).fit(X, y)
    state = clf.__getstate__()
    del state["_coef_holds_temperature"]
    state["coef_"] = clf.coef_ * 2.0
    state["intercept_"] = clf.intercept_ * 2.0
    if cls is SoftmaxRegressionCV:
        state["coefs_paths_"] = clf.coefs_paths_ * 2.0
    old = cls.__new__(cls)
    old.__setstate__(state)
    assert_allclose(old.coef_, clf.coef_, rtol=1e-15)
    assert_allclose(old.intercept_, clf.intercept_, rtol=1e-15)
    assert_allclose(old.predict_proba(X), clf.predict_proba(X), rtol=1e-12)
    if cls is SoftmaxRegressionCV:
        assert_allclose(old.coefs_paths_, clf.coefs_paths_, rtol=1e-15)
