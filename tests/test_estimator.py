"""SoftmaxRegression against LogisticRegression, and its behaviour on bad input."""

import pickle
import re
import warnings

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.datasets import (
    load_breast_cancer,
    load_digits,
    load_iris,
    load_wine,
    make_classification,
)
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from softreg import SoftmaxRegression

TIGHT = {"tol": 1e-10, "max_iter": 10_000}
# The reference fits reach the optimum to rounding: LogisticRegression's lbfgs
# stops on its ftol test with the gradient still at ~1e-8 (digits: 2e-8),
# where softreg goes on to tol. The two optima then agree to about
# tol / (smallest curvature), far inside the tests' atol.
LR_EXACT = {**TIGHT, "solver": "newton-cholesky"}


def _standardised(loader):
    X, y = loader(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def _sparse_problem():
    rng = np.random.RandomState(0)
    X = sp.random(300, 80, density=0.1, format="csr", random_state=rng)
    y = np.asarray(X @ rng.normal(size=(80, 4))).argmax(axis=1)
    return X, y


def _synthetic():
    return make_classification(
        n_samples=500,
        n_features=20,
        n_informative=10,
        n_classes=5,
        random_state=0,
    )


DATASETS = {
    "iris": lambda: _standardised(load_iris),
    "wine": lambda: _standardised(load_wine),
    "digits": lambda: _standardised(load_digits),
    "synthetic": _synthetic,
    "sparse": _sparse_problem,
}


def _assert_same_model(ours, ref, X, atol=1e-5):
    assert_allclose(ours.coef_, ref.coef_, rtol=0, atol=atol)
    assert_allclose(ours.intercept_, ref.intercept_, rtol=0, atol=atol)
    assert_allclose(ours.predict_proba(X), ref.predict_proba(X), rtol=0, atol=atol)
    assert_array_equal(ours.predict(X), ref.predict(X))


@pytest.mark.parametrize("name", DATASETS)
@pytest.mark.parametrize("C", [0.1, 1.0])
def test_matches_logistic_regression(name, C):
    X, y = DATASETS[name]()
    ours = SoftmaxRegression(C=C, **TIGHT).fit(X, y)
    ref = LogisticRegression(C=C, **LR_EXACT).fit(X, y)
    _assert_same_model(ours, ref, X)


@pytest.mark.parametrize("name", ["iris", "wine", "synthetic", "sparse"])
def test_matches_logistic_regression_with_integer_sample_weight(name):
    X, y = DATASETS[name]()
    sw = np.random.RandomState(1).randint(0, 4, size=y.shape[0])
    ours = SoftmaxRegression(**TIGHT).fit(X, y, sample_weight=sw)
    ref = LogisticRegression(**LR_EXACT).fit(X, y, sample_weight=sw)
    _assert_same_model(ours, ref, X)


@pytest.mark.parametrize("name", ["iris", "wine", "digits", "synthetic"])
def test_matches_logistic_regression_with_balanced_class_weight(name):
    X, y = DATASETS[name]()
    keep = np.r_[np.flatnonzero(y != y[0])[::3], np.flatnonzero(y == y[0])]
    X, y = X[keep], y[keep]  # make the classes unbalanced
    ours = SoftmaxRegression(class_weight="balanced", **TIGHT).fit(X, y)
    ref = LogisticRegression(class_weight="balanced", **LR_EXACT).fit(X, y)
    _assert_same_model(ours, ref, X)


def test_matches_logistic_regression_class_weight_dict_and_no_intercept():
    X, y = DATASETS["wine"]()
    weights = {0: 2.0, 1: 0.5, 2: 1.0}
    ours = SoftmaxRegression(class_weight=weights, fit_intercept=False, **TIGHT)
    ref = LogisticRegression(class_weight=weights, fit_intercept=False, **LR_EXACT)
    _assert_same_model(ours.fit(X, y), ref.fit(X, y), X)
    assert_array_equal(ours.intercept_, np.zeros(3))


def test_no_penalty_matches_logistic_regression():
    X, y = _synthetic()
    ours = SoftmaxRegression(C=np.inf, **TIGHT).fit(X, y)
    ref = LogisticRegression(C=np.inf, **LR_EXACT).fit(X, y)
    assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=1e-5)


def test_class_weight_equals_sample_weight():
    X, y = DATASETS["iris"]()
    weights = {0: 3.0, 1: 1.0, 2: 0.5}
    a = SoftmaxRegression(class_weight=weights, **TIGHT).fit(X, y)
    b = SoftmaxRegression(**TIGHT).fit(
        X, y, sample_weight=np.array([weights[c] for c in y])
    )
    assert_allclose(a.coef_, b.coef_, atol=1e-8)


def test_binary_maps_to_logistic_regression_with_twice_c():
    X, y = _standardised(load_breast_cancer)
    c = 0.3
    ours = SoftmaxRegression(C=c, **TIGHT).fit(X, y)
    ref = LogisticRegression(C=2 * c, **LR_EXACT).fit(X, y)
    assert ours.coef_.shape == (2, X.shape[1])
    assert_allclose(ours.coef_[1], -ours.coef_[0], atol=1e-12)
    assert_allclose(ours.coef_[1] - ours.coef_[0], ref.coef_[0], atol=1e-5)
    assert_allclose(
        ours.intercept_[1] - ours.intercept_[0], ref.intercept_[0], atol=1e-5
    )
    assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=1e-5)
    decision = ours.decision_function(X)
    assert decision.shape == (X.shape[0],)
    assert_allclose(decision, ref.decision_function(X), atol=1e-4)


def test_coef_and_intercept_are_centred():
    X, y = DATASETS["digits"]()
    clf = SoftmaxRegression(C=np.inf, max_iter=30).fit(X, y)
    assert_allclose(clf.coef_.sum(axis=0), 0, atol=1e-10)
    assert_allclose(clf.intercept_.sum(), 0, atol=1e-10)


@pytest.mark.parametrize("sparse", [False, True])
def test_float32_stays_float32(sparse):
    X, y = DATASETS["wine"]()
    X32 = X.astype(np.float32)
    if sparse:
        X32 = sp.csr_matrix(X32)
    clf = SoftmaxRegression(**TIGHT).fit(X32, y)
    assert clf.coef_.dtype == np.float32
    assert clf.intercept_.dtype == np.float32
    for method in ("predict_proba", "predict_log_proba", "decision_function"):
        assert getattr(clf, method)(X32).dtype == np.float32, method
    ref = SoftmaxRegression(**TIGHT).fit(X, y)
    assert_allclose(clf.predict_proba(X32), ref.predict_proba(X), atol=1e-3)


def test_sparse_csr_csc_and_dense_agree():
    X, y = _sparse_problem()
    dense = SoftmaxRegression(**TIGHT).fit(X.toarray(), y)
    for Xs in (X.tocsr(), X.tocsc()):
        clf = SoftmaxRegression(**TIGHT).fit(Xs, y)
        assert_allclose(clf.coef_, dense.coef_, atol=1e-8)
        assert_allclose(clf.predict_proba(Xs), dense.predict_proba(X.toarray()))


def test_string_labels_and_classes_order():
    X, y = DATASETS["iris"]()
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    clf = SoftmaxRegression().fit(X, names)
    assert_array_equal(clf.classes_, ["setosa", "versicolor", "virginica"])
    assert set(clf.predict(X)) <= set(names)
    assert clf.score(X, names) > 0.95
    integer = SoftmaxRegression().fit(X, y + 10)
    assert_array_equal(integer.classes_, [10, 11, 12])
    assert_allclose(integer.predict_proba(X), clf.predict_proba(X))


def test_pandas_feature_names():
    pd = pytest.importorskip("pandas")
    X, y = load_iris(return_X_y=True, as_frame=True)
    clf = SoftmaxRegression(max_iter=1000).fit(X, y)
    assert_array_equal(clf.feature_names_in_, X.columns)
    assert clf.n_features_in_ == 4
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        from_array = clf.predict_proba(X.to_numpy())
    assert_allclose(clf.predict_proba(X), from_array)
    with pytest.raises(ValueError, match="feature names"):
        clf.predict(X.rename(columns={X.columns[0]: "other"}))
    assert isinstance(X, pd.DataFrame)


def test_predict_is_argmax_of_proba_and_log_proba_is_stable():
    X, y = DATASETS["digits"]()
    clf = SoftmaxRegression().fit(X, y)
    proba = clf.predict_proba(X)
    assert_allclose(proba.sum(axis=1), 1)
    assert_array_equal(clf.predict(X), clf.classes_[proba.argmax(axis=1)])
    assert_allclose(np.exp(clf.predict_log_proba(X)), proba, atol=1e-12)
    assert_array_equal(clf.decision_function(X).argmax(axis=1), proba.argmax(axis=1))


def test_huge_scores_give_finite_probabilities_without_warnings():
    X, y = DATASETS["iris"]()
    clf = SoftmaxRegression().fit(X, y)
    clf.coef_ = clf.coef_ * 1e4  # scores of order 1e4
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        proba = clf.predict_proba(X)
        log_proba = clf.predict_log_proba(X)
    assert np.all(np.isfinite(proba))
    assert_allclose(proba.sum(axis=1), 1)
    assert np.all(log_proba <= 0)
    assert not np.any(np.isnan(log_proba))


def test_warm_start_continues_from_previous_fit():
    X, y = DATASETS["digits"]()
    # tol=1e-6 is reachable: at 1e-10 both fits would end on L-BFGS-B's ftol
    # test and the iteration counts would depend on rounding.
    params = {"tol": 1e-6, "max_iter": 1000}
    cold = SoftmaxRegression(**params).fit(X, y)
    warm = SoftmaxRegression(warm_start=True, **params).set_params(max_iter=5)
    with pytest.warns(ConvergenceWarning):
        warm.fit(X, y)
    warm.set_params(max_iter=1000).fit(X, y)
    assert warm.n_iter_ < cold.n_iter_
    assert_allclose(warm.predict_proba(X), cold.predict_proba(X), atol=1e-3)
    # From a converged solution a warm refit has nothing left to do.
    warm.fit(X, y)
    assert warm.n_iter_ <= 1
    # Without warm_start, refitting ignores the previous solution.
    fresh = SoftmaxRegression(**params).fit(X, y)
    assert fresh.n_iter_ == cold.n_iter_


def test_convergence_warning_and_verbose_output(capsys):
    X, y = DATASETS["digits"]()
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        clf = SoftmaxRegression(max_iter=3, verbose=1).fit(X, y)
    assert clf.n_iter_ == 3
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("iter")]
    assert len(lines) == 3
    assert re.search(r"loss [0-9.]+", lines[0])


def test_n_jobs_gives_the_same_model():
    X, y = DATASETS["digits"]()
    one = SoftmaxRegression(n_jobs=1, **TIGHT).fit(X, y)
    two = SoftmaxRegression(n_jobs=2, **TIGHT).fit(X, y)
    # Different BLAS threading rounds differently; digits at C=1 is ill
    # conditioned enough that this moves the optimum found at gtol=1e-10 by ~1e-7.
    assert_allclose(one.coef_, two.coef_, atol=1e-5)
    assert_allclose(one.predict_proba(X), two.predict_proba(X), atol=1e-5)


def test_deterministic_for_the_same_input():
    X, y = _synthetic()
    a = SoftmaxRegression(n_jobs=2).fit(X, y)
    b = SoftmaxRegression(n_jobs=2).fit(X, y)
    assert_array_equal(a.coef_, b.coef_)


def test_pipeline_and_grid_search():
    X, y = load_digits(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), SoftmaxRegression())
    search = GridSearchCV(
        pipe, {"softmaxregression__C": [0.01, 0.1, 1.0]}, cv=3, n_jobs=2
    )
    search.fit(X, y)
    assert search.best_params_["softmaxregression__C"] in (0.01, 0.1, 1.0)
    assert search.score(X, y) > 0.95


def test_clone_pickle_and_joblib_round_trips(tmp_path):
    X, y = DATASETS["wine"]()
    clf = SoftmaxRegression(C=0.5).fit(X, y)
    expected = clf.predict_proba(X)
    refit = clone(clf).fit(X, y)
    assert_array_equal(refit.predict_proba(X), expected)
    assert_array_equal(pickle.loads(pickle.dumps(clf)).predict_proba(X), expected)
    path = tmp_path / "model.joblib"
    joblib.dump(clf, path)
    assert_array_equal(joblib.load(path).predict_proba(X), expected)


# --- bad input -------------------------------------------------------------

X_OK, Y_OK = _standardised(load_iris)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"C": 0}, "'C' parameter"),
        ({"C": -1.0}, "'C' parameter"),
        ({"C": np.nan}, "'C' parameter"),
        ({"max_iter": -1}, "'max_iter' parameter"),
        ({"l1_ratio": 1.5}, "'l1_ratio' parameter"),
        ({"l1_ratio": -0.1}, "'l1_ratio' parameter"),
        ({"bounds": "positive"}, "'bounds' parameter"),
        ({"tol": -1e-3}, "'tol' parameter"),
        ({"class_weight": "auto"}, "'class_weight' parameter"),
        ({"normalizer": "nope"}, "'normalizer' parameter"),
        ({"solver": "sgd"}, "'solver' parameter"),
        ({"n_jobs": 0}, "'n_jobs' parameter"),
        ({"n_jobs": 1.5}, "'n_jobs' parameter"),
    ],
)
def test_invalid_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        SoftmaxRegression(**params).fit(X_OK, Y_OK)


def test_cv_refuses_n_jobs_zero_before_any_fit():
    from softreg import SoftmaxRegressionCV

    with pytest.raises(ValueError, match="'n_jobs' parameter"):
        SoftmaxRegressionCV(n_jobs=0).fit(X_OK, Y_OK)


def test_class_weight_naming_an_unknown_class():
    with pytest.raises(ValueError, match=r"not in class_weight|not.*classes"):
        SoftmaxRegression(class_weight={0: 1.0, 7: 2.0}).fit(X_OK, Y_OK)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_x(bad):
    X = X_OK.copy()
    X[3, 1] = bad
    with pytest.raises(ValueError, match=r"NaN|infinity"):
        SoftmaxRegression().fit(X, Y_OK)
    clf = SoftmaxRegression().fit(X_OK, Y_OK)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the ValueError alone reports it
        for method in ("predict", "predict_proba", "decision_function"):
            with pytest.raises(ValueError, match=r"NaN|infinity"):
                getattr(clf, method)(X)


@pytest.mark.parametrize(
    ("X", "y", "error", "match"),
    [
        (X_OK, np.zeros(150), ValueError, "class"),
        (X_OK, np.linspace(0, 1, 150), ValueError, "continuous"),
        (X_OK, Y_OK[:-1], ValueError, "inconsistent numbers of samples"),
        (np.array([["a", "b"]] * 4), [0, 1, 0, 1], ValueError, "convert"),
        (np.zeros((4, 2, 2)), [0, 1, 0, 1], ValueError, "2D|dim"),
        (np.empty((0, 4)), [], ValueError, "0 sample"),
    ],
)
def test_bad_training_data(X, y, error, match):
    with pytest.raises(error, match=match):
        SoftmaxRegression().fit(X, y)


def test_bad_sample_weight():
    with pytest.raises(ValueError, match=r"[Nn]egative"):
        SoftmaxRegression().fit(X_OK, Y_OK, sample_weight=np.r_[-1.0, np.ones(149)])
    with pytest.raises(ValueError, match="zero"):
        SoftmaxRegression().fit(X_OK, Y_OK, sample_weight=np.zeros(150))
    with pytest.raises(ValueError, match="sample_weight"):
        SoftmaxRegression().fit(X_OK, Y_OK, sample_weight=np.ones(3))


def test_balanced_needs_weight_in_every_class():
    sw = (Y_OK != 2).astype(float)
    with pytest.raises(ValueError, match="class"):
        SoftmaxRegression(class_weight="balanced").fit(X_OK, Y_OK, sample_weight=sw)


def test_predict_before_fit_and_wrong_feature_count():
    clf = SoftmaxRegression()
    for method in (
        "predict",
        "predict_proba",
        "predict_log_proba",
        "decision_function",
    ):
        with pytest.raises(NotFittedError):
            getattr(clf, method)(X_OK)
    clf.fit(X_OK, Y_OK)
    with pytest.raises(ValueError, match="features"):
        clf.predict(X_OK[:, :3])


# --- user-written normalizers ------------------------------------------------


class PlainSoftmax:
    """A normalizer that does not derive from Normalizer: two methods only."""

    def __call__(self, Z):
        E = np.exp(Z - Z.max(axis=1, keepdims=True))
        return E / E.sum(axis=1, keepdims=True)

    def loss_gradient(self, Y, Z):
        P = self(Z)
        return -np.log((Y * P).sum(axis=1)), P - Y


def test_user_normalizer_with_only_the_required_methods():
    X, y = DATASETS["wine"]()
    ours = SoftmaxRegression(normalizer=PlainSoftmax(), **TIGHT).fit(X, y)
    ref = LogisticRegression(**LR_EXACT).fit(X, y)
    # Not declared shift invariant, so coef_ is not centred: compare the
    # probabilities, which the optional defaults must still serve.
    assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=1e-5)
    assert_allclose(ours.predict_log_proba(X), ref.predict_log_proba(X), atol=1e-4)
    assert_array_equal(
        ours.decision_function(X).argmax(axis=1), ref.predict(X).astype(int)
    )
    assert isinstance(ours.normalizer_, PlainSoftmax)
    assert ours.normalizer_ is not ours.normalizer  # fitted on a copy


def test_user_normalizer_can_opt_out_of_decision_function():
    class NoDecision(PlainSoftmax):
        decision = None

    clf = SoftmaxRegression(normalizer=NoDecision())
    assert not hasattr(clf, "decision_function")
    X, y = DATASETS["iris"]()
    clf.fit(X, y)
    assert not hasattr(clf, "decision_function")
    assert clf.predict_proba(X).shape == (150, 3)


def test_object_lacking_the_protocol_names_the_missing_method():
    class OnlyCall:
        def __call__(self, Z):
            return Z

    with pytest.raises(ValueError, match="loss_gradient"):
        SoftmaxRegression(normalizer=OnlyCall()).fit(X_OK, Y_OK)


def test_grid_search_reaches_normalizer_hyperparameters():
    from softreg.normalizers import Spherical

    X, y = DATASETS["wine"]()
    search = GridSearchCV(
        SoftmaxRegression(normalizer=Spherical(), random_state=0),
        {"normalizer__eps": [0.01, 1.0], "C": [0.1, 1.0]},
        cv=3,
    ).fit(X, y)
    assert search.best_params_["normalizer__eps"] in (0.01, 1.0)
    assert (
        search.best_estimator_.normalizer_.eps == search.best_params_["normalizer__eps"]
    )
    names = GridSearchCV(
        SoftmaxRegression(random_state=0),
        {"normalizer": ["softmax", "sparsemax", "entmax15"]},
        cv=3,
    ).fit(X, y)
    assert names.best_score_ > 0.9


@pytest.mark.parametrize("name", ["spherical", "taylor", "standard"])
def test_non_convex_fits_are_reproducible_with_random_state(name):
    X, y = DATASETS["wine"]()
    a = SoftmaxRegression(normalizer=name, random_state=3, max_iter=500).fit(X, y)
    b = SoftmaxRegression(normalizer=name, random_state=3, max_iter=500).fit(X, y)
    assert_array_equal(a.coef_, b.coef_)
    assert a.score(X, y) > 0.9
