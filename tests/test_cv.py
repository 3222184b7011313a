"""SoftmaxRegressionCV against LogisticRegressionCV, and its path machinery."""

import functools

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn
from numpy.testing import assert_allclose, assert_array_equal
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax
from sklearn.datasets import load_digits, load_iris, load_wine, make_classification
from sklearn.linear_model import LogisticRegressionCV
from sklearn.metrics import accuracy_score, log_loss, make_scorer
from sklearn.model_selection import GroupKFold, StratifiedKFold
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from softreg import SoftmaxRegression, SoftmaxRegressionCV, _path
from softreg._blocks import InMemoryRows
from softreg._temperature import fit_temperature
from softreg.normalizers import Softmax


def _standardised(loader):
    X, y = loader(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def _synthetic():
    X, y = make_classification(
        300, 12, n_informative=6, n_classes=4, n_clusters_per_class=1, random_state=0
    )
    return X, y


# C beyond ~1e2 (1 on digits) is left out: the data are nearly separable there, the
# objective is flat to 1e-12 along directions that move a held-out loss by
# 1e-6, and both libraries' L-BFGS-B stop on its ftol test, at points that
# agree no better than that (measured: 1.3e-6 on iris, 2.9e-6 on wine at
# C=1e4, with the objectives equal to 1e-12).
PARITY = {
    "iris": (lambda: _standardised(load_iris), np.logspace(-4, 2, 7), 5, "lbfgs"),
    "wine": (lambda: _standardised(load_wine), np.logspace(-4, 2, 7), 5, "lbfgs"),
    "digits": (lambda: _standardised(load_digits), np.logspace(-3, 0, 4), 3, "lbfgs"),
    "synthetic": (_synthetic, np.logspace(-3, 2, 6), 4, "lbfgs"),
}


class _sklearn_cv(LogisticRegressionCV):
    """LogisticRegressionCV with 1.9's new attributes and log-loss scoring."""

    def __init__(self, **params):
        params = {
            "l1_ratios": (0,),
            "use_legacy_attributes": False,
            "scoring": "neg_log_loss",
            **params,
        }
        super().__init__(**params)

    def fit(self, X, y, sample_weight=None):
        # One BLAS thread: numpy's and scipy's OpenBLAS pools spinning against
        # each other between scikit-learn's small products slow it ~20-fold.
        with threadpool_limits(1, user_api="blas"):
            return super().fit(X, y, sample_weight=sample_weight)


@functools.cache
def _parity_case(name):
    load, Cs, n_folds, solver = PARITY[name]
    X, y = load()
    folds = list(StratifiedKFold(n_folds).split(X, y))
    common = {"Cs": Cs, "cv": folds, "tol": 1e-8, "max_iter": 1000}
    return X, y, common, _sklearn_cv(solver=solver, **common).fit(X, y)


@pytest.mark.parametrize("name", list(PARITY))
@pytest.mark.parametrize("scoring", [None, "neg_log_loss"])
def test_matches_logistic_regression_cv(name, scoring):
    X, y, common, ref = _parity_case(name)
    ours = SoftmaxRegressionCV(scoring=scoring, **common).fit(X, y)
    # scoring=None is softmax's own loss, which is scikit-learn's log-loss.
    assert ours.C_ == ref.C_
    assert ours.l1_ratio_ == ref.l1_ratio_ == 0.0
    assert_array_equal(ours.Cs_, ref.Cs_)
    assert ours.scores_.shape == ref.scores_.shape
    assert_allclose(ours.scores_, ref.scores_, rtol=0, atol=1e-6)
    # Coefficients to 1e-3: at the weakest penalties L-BFGS-B may stop on its
    # ftol test ~1e-11 from the optimal objective, in a flat valley.
    assert ours.coefs_paths_.shape == ref.coefs_paths_.shape
    assert_allclose(ours.coefs_paths_, ref.coefs_paths_, rtol=0, atol=1e-3)
    assert_allclose(ours.coef_, ref.coef_, rtol=0, atol=1e-3)
    assert_allclose(ours.intercept_, ref.intercept_, rtol=0, atol=1e-3)
    assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=1e-4)


def test_accuracy_scoring_and_refit_false_match():
    # A string scorer goes through a fitted model per C; ties of accuracy are
    # broken as LogisticRegressionCV does; refit=False averages the folds.
    X, y = _standardised(load_wine)
    folds = list(StratifiedKFold(5).split(X, y))
    common = {"Cs": np.logspace(-3, 1, 5), "cv": folds, "tol": 1e-6}
    ref = _sklearn_cv(scoring="accuracy", refit=False, **common).fit(X, y)
    ours = SoftmaxRegressionCV(scoring="accuracy", refit=False, **common).fit(X, y)
    assert_allclose(ours.scores_, ref.scores_, atol=1e-12)
    assert pytest.approx(ref.C_, rel=1e-12) == ours.C_
    assert_allclose(ours.coef_, ref.coef_, atol=1e-5)
    assert_allclose(ours.intercept_, ref.intercept_, atol=1e-5)


def test_weights_match():
    X, y = _synthetic()
    sw = np.random.default_rng(0).uniform(0.5, 2.0, size=y.size)
    folds = list(StratifiedKFold(4).split(X, y))
    common = {
        "Cs": np.logspace(-2, 1, 4),
        "cv": folds,
        "tol": 1e-8,
        "class_weight": "balanced",
        "max_iter": 1000,
    }
    ref = _sklearn_cv(**common).fit(X, y, sample_weight=sw)
    ours = SoftmaxRegressionCV(**common).fit(X, y, sample_weight=sw)
    assert ours.C_ == ref.C_
    assert_allclose(ours.scores_, ref.scores_, atol=1e-6)
    assert_allclose(ours.coef_, ref.coef_, atol=1e-4)


def test_two_classes_map_to_twice_c():
    # SoftmaxRegression(C=c) is LogisticRegression(C=2c) on two classes, so
    # the grids map by a factor 2 and the scores are the same.
    X, y = make_classification(200, 8, n_informative=4, random_state=1)
    folds = list(StratifiedKFold(5).split(X, y))
    grid = np.logspace(-3, 2, 6)
    ref = _sklearn_cv(Cs=2 * grid, cv=folds, tol=1e-10, max_iter=1000).fit(X, y)
    ours = SoftmaxRegressionCV(Cs=grid, cv=folds, tol=1e-10, max_iter=1000).fit(X, y)
    assert ours.C_ == ref.C_ / 2
    assert_allclose(ours.scores_, ref.scores_, atol=1e-6)
    assert ours.coefs_paths_.shape[-2] == 2  # both rows kept, unlike sklearn's 1
    diff = ours.coefs_paths_[..., 1, :] - ours.coefs_paths_[..., 0, :]
    # Coefficients to 1e-3 only: at the weakest penalties both L-BFGS-B runs
    # stop on their ftol test ~1e-11 from the optimal objective, on a flat
    # valley; the held-out scores above agree to 1e-6 all the same.
    assert_allclose(diff, ref.coefs_paths_[..., 0, :], atol=1e-3)
    assert_allclose(ours.decision_function(X), ref.decision_function(X), atol=1e-3)


def test_path_equals_independent_fits_and_shares_moments(monkeypatch):
    X, y = _standardised(load_wine)
    X = X * np.array([1e-2, 1e3] + [1.0] * (X.shape[1] - 2))  # raw-looking scales
    Cs = [10.0, 0.01, 1.0]  # any order: the path runs them sorted
    computed = []
    original = InMemoryRows.map_reduce

    def counting(self, func, *args):
        if func.__name__ == "moments":
            computed.append(id(self))
        return original(self, func, *args)

    monkeypatch.setattr(InMemoryRows, "map_reduce", counting)
    folds = [(np.arange(0, 178, 2), np.arange(1, 178, 2))]
    # trust-ncg reaches the gradient test where L-BFGS-B can stop earlier on
    # its ftol test, so path and independent fits meet at the optimum.
    params = {"tol": 1e-8, "max_iter": 1000, "solver": "trust-ncg"}
    cv = SoftmaxRegressionCV(Cs=Cs, cv=folds, refit=False, **params)
    cv.fit(X, y)
    # One pass for the moments of the whole three-step path.
    assert len(computed) == 1
    train = folds[0][0]
    for i, C in enumerate(Cs):
        single = SoftmaxRegression(C=C, **params)
        single.fit(X[train], y[train])
        assert_allclose(cv.coefs_paths_[0, 0, i, :, :-1], single.coef_, atol=1e-6)
        assert_allclose(cv.coefs_paths_[0, 0, i, :, -1], single.intercept_, atol=1e-6)


def test_warm_start_saves_iterations():
    X, y = _standardised(load_digits)
    folds = [next(StratifiedKFold(3).split(X, y))]
    Cs = np.logspace(-3, 1, 5)
    params = {"tol": 1e-6, "max_iter": 1000}
    cv = SoftmaxRegressionCV(Cs=Cs, cv=folds, refit=False, **params).fit(X, y)
    train = folds[0][0]
    cold = sum(
        SoftmaxRegression(C=C, **params).fit(X[train], y[train]).n_iter_ for C in Cs
    )
    assert cv.n_iter_.sum() < cold


def test_auto_temperature_reuses_held_out_scores(monkeypatch):
    X, y = _standardised(load_iris)
    folds = list(StratifiedKFold(3).split(X, y))
    solves = []
    original = SoftmaxRegression._solve

    def counting(self, *args, **kwargs):
        solves.append(self.C)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SoftmaxRegression, "_solve", counting)
    Cs = np.logspace(-2, 2, 5)
    params = {"tol": 1e-8, "max_iter": 1000}
    cv = SoftmaxRegressionCV(Cs=Cs, cv=folds, temperature="auto", **params)
    cv.fit(X, y)
    # The paths and the refit; the temperature costs no fit.
    assert len(solves) == len(folds) * Cs.size + 1
    # Reference: T minimising the log-loss of the chosen C's held-out scores.
    i = list(Cs).index(cv.C_)
    Z = np.vstack(
        [
            X[te] @ cv.coefs_paths_[f, 0, i, :, :-1].T + cv.coefs_paths_[f, 0, i, :, -1]
            for f, (_, te) in enumerate(folds)
        ]
    )
    labels = np.concatenate([y[te] for _, te in folds])

    def loss(log_t):
        return -log_softmax(Z / np.exp(log_t), axis=1)[
            np.arange(labels.size), labels
        ].mean()

    t_ref = np.exp(
        minimize_scalar(
            loss, bounds=(-5, 5), method="bounded", options={"xatol": 1e-10}
        ).x
    )
    # The plain minimiser is scipy's; the estimator applies the prior on
    # log T of softreg._temperature to the same scores.
    ones = np.ones(labels.size)
    plain_t = fit_temperature(Softmax(), Z, labels, ones, prior_scale=np.inf)
    assert plain_t == pytest.approx(t_ref, rel=1e-6)
    expected = fit_temperature(Softmax(), Z, labels, ones)
    assert cv.temperature_ == pytest.approx(expected, rel=1e-6)
    assert cv.temperature_ != 1.0
    # The model itself is the T=1 fit at C_, with 1/T folded into coef_.
    plain = SoftmaxRegression(C=cv.C_, **params).fit(X, y)
    assert_allclose(cv.coef_ * cv.temperature_, plain.coef_, atol=1e-4)


def test_fixed_temperature_reparametrises_c():
    # Under L2, (T, C) predicts as (1, C / T^2): same scores and choice.
    X, y = _synthetic()
    T, Cs = 2.0, np.logspace(-2, 2, 5)
    folds = list(StratifiedKFold(3).split(X, y))
    params = {"cv": folds, "tol": 1e-10, "max_iter": 1000}
    hot = SoftmaxRegressionCV(Cs=Cs, temperature=T, **params).fit(X, y)
    cold = SoftmaxRegressionCV(Cs=Cs / T**2, **params).fit(X, y)
    assert hot.temperature_ == T
    assert pytest.approx(cold.C_ * T**2) == hot.C_
    assert_allclose(hot.scores_, cold.scores_, atol=1e-6)
    assert_allclose(hot.predict_proba(X), cold.predict_proba(X), atol=1e-6)


def test_held_out_score_is_log_loss_with_weights():
    X, y = _synthetic()
    sw = np.random.default_rng(1).integers(1, 4, size=y.size).astype(float)
    folds = list(StratifiedKFold(3).split(X, y))
    cv = SoftmaxRegressionCV(Cs=[0.5], cv=folds, refit=False).fit(
        X, y, sample_weight=sw
    )
    for f, (_, te) in enumerate(folds):
        W = cv.coefs_paths_[f, 0, 0]
        proba = np.exp(log_softmax(X[te] @ W[:, :-1].T + W[:, -1], axis=1))
        expected = -log_loss(y[te], proba, sample_weight=sw[te], labels=cv.classes_)
        assert cv.scores_[f, 0, 0] == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_neg_log_loss_equals_scikit_learns_scorer(dtype, temperature):
    # scoring="neg_log_loss" skips the scorer for a likelihood normalizer;
    # the same metric through a callable scorer (which always runs) is the
    # reference. C up to 1e4 on separable data: held-out probabilities reach
    # 1 - eps and eps, where scikit-learn's clipping decides the score.
    X, y = make_classification(
        120, 6, n_informative=4, n_classes=3, class_sep=3.0, random_state=2
    )
    X = X.astype(dtype)
    sw = np.random.default_rng(4).uniform(0.5, 2.0, size=y.size)
    common = {
        "Cs": np.logspace(-2, 4, 4),
        "cv": list(StratifiedKFold(3).split(X, y)),
        "temperature": temperature,
        "refit": False,
        "max_iter": 2000,
    }
    scorer = make_scorer(
        log_loss, greater_is_better=False, response_method="predict_proba"
    )
    ours = SoftmaxRegressionCV(scoring="neg_log_loss", **common).fit(
        X, y, sample_weight=sw
    )
    ref = SoftmaxRegressionCV(scoring=scorer, **common).fit(X, y, sample_weight=sw)
    assert_array_equal(ours.coefs_paths_, ref.coefs_paths_)
    proba = ref.predict_proba(X)
    assert proba.min() < 10 * np.finfo(dtype).eps  # the clipping is exercised
    # Both compute -log p_y = lse(z) - z_y from scores rounded in X's dtype:
    # each side's rounding is about eps |lse(z) - z_y| <= eps (2 max|z| + log K)
    # per row, hence for the (weighted) mean.
    paths = ref.coefs_paths_.astype(np.float64)
    Z = np.einsum("nd,flckd->flcnk", X.astype(np.float64), paths[..., :-1])
    Z += paths[..., None, :, -1]
    spread = 2 * np.abs(Z).max() + np.log(3)
    bound = 2 * np.finfo(dtype).eps * spread
    assert_allclose(ours.scores_, ref.scores_, rtol=0, atol=bound)
    # Sparsemax's loss is not its log-likelihood (its probabilities reach 0):
    # "neg_log_loss" is scikit-learn's scorer itself.
    sparse = {**common, "normalizer": "sparsemax"}
    ours = SoftmaxRegressionCV(scoring="neg_log_loss", **sparse).fit(X, y)
    ref = SoftmaxRegressionCV(scoring=scorer, **sparse).fit(X, y)
    assert_array_equal(ours.scores_, ref.scores_)


def test_n_jobs_sparse_and_float32_agree():
    X, y = _synthetic()
    folds = list(StratifiedKFold(3).split(X, y))
    params = {"Cs": [0.01, 0.1, 1.0], "cv": folds, "tol": 1e-8, "max_iter": 1000}
    one = SoftmaxRegressionCV(n_jobs=1, **params).fit(X, y)
    # Paths in this process's threads (None) or in joblib's worker processes
    # (an explicit n_jobs): each path is the same single-threaded computation
    # wherever it runs, so the results are the same bits.
    for n_jobs in [None, 2]:
        two = SoftmaxRegressionCV(n_jobs=n_jobs, **params).fit(X, y)
        assert_array_equal(one.coefs_paths_, two.coefs_paths_)
        assert_array_equal(one.scores_, two.scores_)
        assert_array_equal(one.coef_, two.coef_)
    csr = SoftmaxRegressionCV(**params).fit(sp.csr_matrix(X), y)
    assert_allclose(one.scores_, csr.scores_, atol=1e-6)
    f32 = SoftmaxRegressionCV(**{**params, "tol": 1e-4}).fit(X.astype(np.float32), y)
    assert f32.coef_.dtype == f32.coefs_paths_.dtype == np.float32
    assert f32.predict_proba(X.astype(np.float32)).dtype == np.float32
    assert f32.C_ == one.C_


def test_attributes_layout():
    X, y = _synthetic()
    cv = SoftmaxRegressionCV(Cs=[1.0, 0.1, 3.0], cv=3, fit_intercept=False).fit(X, y)
    assert isinstance(cv.C_, float)
    assert isinstance(cv.l1_ratio_, float)
    assert_array_equal(cv.Cs_, [1.0, 0.1, 3.0])
    assert_array_equal(cv.l1_ratios_, [0.0])
    assert cv.scores_.shape == cv.n_iter_.shape == (3, 1, 3)
    assert cv.coefs_paths_.shape == (3, 1, 3, 4, X.shape[1])
    assert cv.coef_.shape == (4, X.shape[1])
    assert_array_equal(cv.intercept_, np.zeros(4))
    assert_array_equal(SoftmaxRegressionCV(Cs=3).fit(X, y).Cs_, [1e-4, 1.0, 1e4])


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"Cs": [1.0, -1.0]}, "Cs must be"),
        ({"Cs": []}, "Cs must be"),
        ({"Cs": [np.nan]}, "Cs must be"),
        ({"Cs": 0}, "'Cs' parameter"),
        ({"l1_ratios": [0.5, 1.5]}, "l1_ratios must be"),
        ({"l1_ratios": []}, "l1_ratios must be"),
        ({"scoring": "nonsense"}, "'scoring' parameter"),
        ({"refit": "yes"}, "'refit' parameter"),
    ],
)
def test_bad_parameters(params, message):
    X, y = _synthetic()
    with pytest.raises(ValueError, match=message):
        SoftmaxRegressionCV(**params).fit(X, y)


# Elastic net. The reference is scikit-learn's saga, the only multinomial L1
# solver it has. The grid avoids where saga does not reach the optimum:
# at C=0.01 on iris (every weight zero) it stops after one epoch with
# intercepts far from optimal (objective 1.1667 against softreg's 1.0985 =
# log 3), and at C=10 it runs into max_iter=20000 (2.6e-12 above softreg's
# objective, held-out scores 5e-6 apart).
@pytest.mark.parametrize("loader", [load_iris, load_wine])
def test_elastic_net_grid_matches_saga(loader):
    X, y = _standardised(loader)
    folds = list(StratifiedKFold(3).split(X, y))
    common = {"Cs": [0.1, 0.3, 1.0], "l1_ratios": [0.5, 1.0], "cv": folds}
    ref = _sklearn_cv(solver="saga", tol=1e-10, max_iter=20000, **common)
    ref.fit(X, y)
    ours = SoftmaxRegressionCV(tol=1e-10, max_iter=2000, **common).fit(X, y)
    assert ours.C_ == ref.C_
    assert ours.l1_ratio_ == ref.l1_ratio_
    assert_array_equal(ours.l1_ratios_, ref.l1_ratios_)
    assert ours.scores_.shape == ref.scores_.shape == (3, 2, 3)
    assert_allclose(ours.scores_, ref.scores_, rtol=0, atol=1e-6)
    assert_allclose(ours.coefs_paths_, ref.coefs_paths_, rtol=0, atol=1e-4)
    # Exact zeros where saga has them.
    assert_array_equal(ours.coefs_paths_ == 0, ref.coefs_paths_ == 0)
    assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=1e-5)


def test_binary_lasso_uses_the_same_grid():
    # SoftmaxRegression(C=c, l1_ratio=1) is LogisticRegression(C=c, l1_ratio=1).
    X, y = _standardised(load_wine)
    X, y = X[y < 2], y[y < 2]
    folds = list(StratifiedKFold(3).split(X, y))
    common = {"Cs": [0.05, 0.2, 1.0], "l1_ratios": [1.0], "cv": folds}
    ref = _sklearn_cv(solver="saga", tol=1e-10, max_iter=20000, **common)
    ref.fit(X, y)
    ours = SoftmaxRegressionCV(tol=1e-10, max_iter=2000, **common).fit(X, y)
    assert ours.C_ == ref.C_
    assert_allclose(ours.scores_, ref.scores_, rtol=0, atol=1e-6)
    assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=1e-5)


def test_lasso_path_starts_empty_and_equals_independent_fits():
    X, y = _standardised(load_wine)
    # Below 1 / (S * max|X^T (Y - priors)|) the lasso keeps no feature.
    counts = np.bincount(y) / y.size
    Y = np.eye(3)[y]
    c_min = 1.0 / np.abs(X.T @ (Y - counts)).max()
    Cs = np.array([0.5 * c_min, 2 * c_min, 10 * c_min, 1.0])
    folds = [(np.arange(y.size), np.arange(y.size))]  # one path on all rows
    params = {"tol": 1e-10, "max_iter": 2000}
    cv = SoftmaxRegressionCV(Cs=Cs, l1_ratios=[1.0], cv=folds, refit=False, **params)
    cv.fit(X, y)
    paths = cv.coefs_paths_[0, 0]
    assert np.all(paths[0, :, :-1] == 0)
    nonzero = (paths[..., :-1] != 0).sum(axis=(1, 2))
    assert nonzero[1] > 0
    assert nonzero[-1] > nonzero[1]
    for i, C in enumerate(Cs):
        single = SoftmaxRegression(C=C, l1_ratio=1.0, **params).fit(X, y)
        assert_allclose(paths[i, :, :-1], single.coef_, atol=1e-5)
        assert_array_equal(paths[i, :, :-1] == 0, single.coef_ == 0)


def test_l1_and_bounds_need_lbfgs_and_are_checked_first(monkeypatch):
    X, y = _synthetic()
    calls = []
    monkeypatch.setattr(
        SoftmaxRegression, "_solve", lambda *a, **k: calls.append(1) or 1 / 0
    )
    with pytest.raises(ValueError, match="does not support l1_ratio > 0"):
        SoftmaxRegressionCV(l1_ratios=[0, 0.5], solver="newton-cg").fit(X, y)
    with pytest.raises(ValueError, match="bounds"):
        SoftmaxRegressionCV(bounds=(1.0, -1.0)).fit(X, y)
    assert calls == []


def test_bounds_hold_along_the_path():
    X, y = _synthetic()
    cv = SoftmaxRegressionCV(Cs=3, cv=3, bounds=(0.0, np.inf), l1_ratios=[0, 0.5])
    cv.fit(X.astype(np.float32), y)
    assert np.all(cv.coefs_paths_[..., :-1] >= 0)
    assert np.all(cv.coef_ >= 0)


def test_score_uses_the_scoring_option():
    X, y = _synthetic()
    sw = np.random.default_rng(2).uniform(0.5, 2, size=y.size)
    labels = np.array(["a", "b", "c", "d"])[y]
    cv = SoftmaxRegressionCV(Cs=3, cv=3).fit(X, labels)
    expected = -log_loss(labels, cv.predict_proba(X), sample_weight=sw)
    assert cv.score(X, labels, sample_weight=sw) == pytest.approx(expected, rel=1e-10)
    with pytest.raises(ValueError, match="not seen in fit"):
        cv.score(X[:2], np.array(["a", "e"]))
    acc = SoftmaxRegressionCV(Cs=3, cv=3, scoring="accuracy").fit(X, labels)
    assert acc.score(X, labels) == np.mean(acc.predict(X) == labels)


@pytest.fixture
def metadata_routing():
    with sklearn.config_context(enable_metadata_routing=True):
        yield


def test_groups_reach_the_splitter_as_in_logistic_regression_cv(metadata_routing):
    X, y = _standardised(load_iris)
    groups = np.arange(y.size) % 7
    common = {"Cs": np.logspace(-2, 1, 4), "cv": GroupKFold(3), "tol": 1e-8}
    ref = _sklearn_cv(max_iter=1000, **common)
    with threadpool_limits(1, user_api="blas"):
        ref = LogisticRegressionCV.fit(ref, X, y, groups=groups)
    ours = SoftmaxRegressionCV(max_iter=1000, **common).fit(X, y, groups=groups)
    # The group folds, not StratifiedKFold's: each held-out fold is whole
    # groups, so the scores differ from an ungrouped run's.
    assert_allclose(ours.scores_, ref.scores_, rtol=0, atol=1e-6)
    assert ours.C_ == ref.C_
    ungrouped = SoftmaxRegressionCV(max_iter=1000, **{**common, "cv": 3}).fit(X, y)
    assert np.abs(ours.scores_ - ungrouped.scores_).max() > 1e-3
    with pytest.raises(ValueError, match="groups"):
        SoftmaxRegressionCV(**common).fit(X, y)


def test_routed_scorer_weights_match_logistic_regression_cv(metadata_routing):
    X, y = _synthetic()
    sw = np.random.default_rng(3).uniform(0.2, 3.0, size=y.size)
    folds = list(StratifiedKFold(4).split(X, y))
    scorer = make_scorer(accuracy_score, response_method="predict").set_score_request(
        sample_weight=True
    )
    common = {"Cs": np.logspace(-2, 1, 4), "cv": folds, "tol": 1e-8, "scoring": scorer}
    ref = _sklearn_cv(max_iter=1000, **common)
    ref.set_fit_request(sample_weight=True)
    with threadpool_limits(1, user_api="blas"):
        ref = LogisticRegressionCV.fit(ref, X, y, sample_weight=sw)
    ours = SoftmaxRegressionCV(max_iter=1000, **common)
    ours.set_fit_request(sample_weight=True).set_score_request(sample_weight=True)
    ours.fit(X, y, sample_weight=sw)
    assert_allclose(ours.scores_, ref.scores_, rtol=0, atol=1e-12)
    assert ours.score(X, y, sample_weight=sw) == pytest.approx(
        accuracy_score(y, ours.predict(X), sample_weight=sw), rel=1e-12
    )
    # A scorer that declines the weights scores unweighted (one that says
    # neither is refused by scikit-learn's routing, as for LogisticRegressionCV).
    declined = make_scorer(accuracy_score).set_score_request(sample_weight=False)
    plain = SoftmaxRegressionCV(max_iter=1000, **{**common, "scoring": declined})
    plain.set_fit_request(sample_weight=True).fit(X, y, sample_weight=sw)
    model = SoftmaxRegression(C=plain.Cs_[0], tol=1e-8, max_iter=1000)
    train, test = folds[0]
    model.fit(X[train], y[train], sample_weight=sw[train])
    assert plain.scores_[0, 0, 0] == pytest.approx(model.score(X[test], y[test]))


def test_metadata_without_routing_is_refused():
    X, y = _synthetic()
    with pytest.raises(ValueError, match="enable_metadata_routing=True"):
        SoftmaxRegressionCV(Cs=2, cv=GroupKFold(2)).fit(X, y, groups=y % 2)
    cv = SoftmaxRegressionCV(Cs=2, cv=2).fit(X, y)
    with pytest.raises(ValueError, match="enable_metadata_routing=True"):
        cv.score(X, y, groups=y)


@pytest.mark.parametrize("keep", [True, False])
def test_path_steps_start_from_the_last_pass(monkeypatch, keep):
    # Large enough for the float32 copy; noisy labels, so that the largest
    # Cs have (nearly) one solution and their starts already meet tol.
    X, y = make_classification(
        5000, 20, n_informative=10, n_classes=3, flip_y=0.2, random_state=0
    )
    X = StandardScaler().fit_transform(X)
    Cs = np.logspace(-2, 4, 7)
    calls = []  # per map_reduce call: did it run a pass?
    original_reduce = InMemoryRows.map_reduce

    def recording(self, func, *args):
        before = self._passes
        out = original_reduce(self, func, *args)
        if func.__name__ == "loss_gradient":
            calls.append(self._passes > before)
        return out

    monkeypatch.setattr(InMemoryRows, "map_reduce", recording)
    if not keep:  # the reference: rows that forget
        original_init = InMemoryRows.__init__

        def forgetful(self, *args, **kwargs):
            original_init(self, *args, **{**kwargs, "keep_last_pass": False})

        monkeypatch.setattr(InMemoryRows, "__init__", forgetful)
    steps = []
    original_solve = SoftmaxRegression._solve

    def solve(self, *args, **kwargs):
        calls.clear()
        out = original_solve(self, *args, **kwargs)
        steps.append((out[2], list(calls)))
        return out

    monkeypatch.setattr(SoftmaxRegression, "_solve", solve)
    est = SoftmaxRegression(tol=1e-6)
    est.normalizer_ = Softmax()
    _, _, n_iter = _path.fit_path(est, X, y, 3, np.ones(len(y)), Cs)
    assert n_iter[-1] == 0  # the last start already met tol
    assert steps[0][1][0]  # the first step's start is a pass
    for it, ran in steps[1:]:
        if keep:
            # Each step starts at the last one's end, whose passes the rows
            # (the float32 copy, then X) still hold: its first evaluation runs
            # no pass, nor does a step whose start meets tol.
            assert not ran[0]
            assert it > 0 or not any(ran)
        else:
            assert all(ran)
