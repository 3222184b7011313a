"""calibration="vector"/"ensemble": out-of-fold maps folded into one linear model."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.optimize import approx_fprime
from sklearn.calibration import CalibratedClassifierCV
from sklearn.datasets import load_digits, load_iris, make_classification
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.preprocessing import StandardScaler

from softreg import SoftmaxRegression
from softreg._calibration import (
    CalibrationMap,
    fit_calibration,
    fit_vector_scaling,
)
from softreg._temperature import fit_temperature
from softreg.normalizers import Softmax

TIGHT = {"tol": 1e-8, "max_iter": 1000}


@pytest.fixture(scope="module")
def problem():
    X, y = make_classification(
        n_samples=300,
        n_features=10,
        n_informative=6,
        n_classes=3,
        flip_y=0.1,
        random_state=0,
    )
    return StandardScaler().fit_transform(X), y


def _fold_models(X, y, est):
    """The fold models and out-of-fold scores, fitted here independently."""
    folds = est._folds()
    scores = np.zeros((len(y), 3))
    fold_of = np.zeros(len(y), dtype=int)
    coefs, intercepts = [], []
    for k, (train, test) in enumerate(
        StratifiedKFold(
            folds.n_splits, shuffle=True, random_state=folds.random_state
        ).split(X, y)
    ):
        m = SoftmaxRegression(C=est.C, **TIGHT).fit(X[train], y[train])
        scores[test] = X[test] @ m.coef_.T + m.intercept_
        fold_of[test] = k
        coefs.append(m.coef_)
        intercepts.append(m.intercept_)
    return scores, fold_of, np.mean(coefs, axis=0), np.mean(intercepts, axis=0)


def _centred(coef, intercept):
    return coef - coef.mean(axis=0), intercept - intercept.mean()


@pytest.mark.parametrize("method", ["vector", "ensemble"])
def test_map_is_fitted_to_the_out_of_fold_scores(problem, method):
    X, y = problem
    est = SoftmaxRegression(C=10.0, calibration=method, random_state=3, **TIGHT)
    est.fit(X, y)
    scores, fold_of, coef_mean, intercept_mean = _fold_models(X, y, est)
    expected = fit_calibration(
        Softmax(), scores, np.eye(3)[y], np.ones(len(y)), fold_of
    )
    assert_allclose(est.calibration_scale_, expected.scale, rtol=1e-4)
    assert_allclose(est.calibration_bias_, expected.bias, atol=1e-5)
    assert est.calibration_pull_ == expected.pull
    if method == "ensemble":
        base = coef_mean, intercept_mean
    else:
        full = SoftmaxRegression(C=10.0, **TIGHT).fit(X, y)
        base = full.coef_, full.intercept_
    coef, intercept = _centred(*expected.fold_into(*base))
    assert_allclose(est.coef_, coef, rtol=1e-4, atol=1e-6)
    assert_allclose(est.intercept_, intercept, rtol=1e-4, atol=1e-6)
    assert est.temperature_ == 1.0


@pytest.mark.parametrize("method", ["vector", "ensemble"])
def test_leakage_probe_pure_noise_is_not_trusted(method):
    # Random labels and more features than rows: every model separates its
    # training rows. A map fitted to those
    # (in-sample) scores would sharpen them; out-of-fold scores are noise,
    # so the map must shrink them towards uniform probabilities.
    rng = np.random.RandomState(0)
    X = rng.normal(size=(150, 200))
    y = rng.randint(3, size=150)
    params = {"C": 100.0, "max_iter": 1000}
    est = SoftmaxRegression(calibration=method, random_state=0, **params).fit(X, y)
    raw = SoftmaxRegression(**params).fit(X, y)
    assert raw.predict_proba(X).max(axis=1).mean() > 0.9
    assert est.calibration_scale_.mean() < 0.2
    X_new = rng.normal(size=(500, 200))
    assert est.predict_proba(X_new).max(axis=1).mean() < 0.45


@pytest.mark.parametrize("normalizer", ["softmax", "sparsemax", "entmax15"])
def test_plain_temperature_never_changes_predict(problem, normalizer):
    X, y = problem
    # A strong penalty: an underconfident model whose 300 held-out rows all
    # ask for sharpening, so the temperature is not 1.
    plain = SoftmaxRegression(C=1e-3, normalizer=normalizer).fit(X, y)
    calibrated = SoftmaxRegression(
        C=1e-3, normalizer=normalizer, calibration="temperature", random_state=0
    ).fit(X, y)
    assert calibrated.temperature_ != 1.0
    assert_array_equal(calibrated.predict(X), plain.predict(X))
    T = calibrated.temperature_
    assert_allclose(calibrated.coef_ * T, plain.coef_)


@pytest.mark.parametrize("method", ["temperature", "vector", "ensemble"])
def test_deterministic_for_a_fixed_random_state(problem, method):
    X, y = problem
    fits = [
        SoftmaxRegression(C=10.0, calibration=method, random_state=7).fit(X, y)
        for _ in range(2)
    ]
    assert_array_equal(fits[0].coef_, fits[1].coef_)
    assert_array_equal(fits[0].intercept_, fits[1].intercept_)
    assert fits[0].temperature_ == fits[1].temperature_
    if method != "temperature":
        assert_array_equal(fits[0].calibration_scale_, fits[1].calibration_scale_)
        assert_array_equal(fits[0].calibration_bias_, fits[1].calibration_bias_)


def test_calibration_temperature_is_temperature_auto(problem):
    X, y = problem
    a = SoftmaxRegression(calibration="temperature", random_state=1).fit(X, y)
    b = SoftmaxRegression(temperature="auto", random_state=1).fit(X, y)
    assert a.temperature_ == b.temperature_
    assert_array_equal(a.coef_, b.coef_)


def test_vector_scaling_is_the_penalised_optimum(problem):
    X, y = problem
    rng = np.random.RandomState(0)
    Z = X[:, :3] * 3 + rng.normal(size=(len(y), 3))
    Y, w = np.eye(3)[y], rng.uniform(0.5, 2, size=len(y))
    pull = 0.01
    fitted = fit_vector_scaling(Softmax(), Z, Y, w, pull)
    T = fit_temperature(Softmax(), Z, y, w)
    # The mean scale is the chosen temperature's; the spread and biases are
    # the free parameters.
    assert_allclose(fitted.scale.mean(), 1 / T, rtol=1e-12)

    def objective(params):
        spread, c = params[:3] - params[:3].mean(), params[3:]
        S = Z * (1 / T + spread) + c
        log_p = S - np.log(np.exp(S).sum(axis=1, keepdims=True))
        loss = -np.average((Y * log_p).sum(axis=1), weights=w)
        return loss + pull * (np.sum(spread**2) + np.sum(c**2))

    at = np.concatenate([fitted.scale - 1 / T, fitted.bias])
    assert_allclose(approx_fprime(at, objective, 1e-7), 0, atol=1e-5)
    # An infinite pull is plain temperature.
    plain = fit_vector_scaling(Softmax(), Z, Y, w, np.inf)
    assert_allclose(plain.scale, 1 / T)
    assert_array_equal(plain.bias, 0)


def test_map_folds_into_the_linear_model():
    rng = np.random.RandomState(0)
    X, W, b = rng.normal(size=(5, 4)), rng.normal(size=(3, 4)), rng.normal(size=3)
    m = CalibrationMap(rng.uniform(0.5, 2, 3), rng.normal(size=3), 0.1)
    coef, intercept = m.fold_into(W, b)
    assert_allclose(X @ coef.T + intercept, m(X @ W.T + b))


@pytest.mark.parametrize("method", ["vector", "ensemble"])
def test_one_hot_soft_targets_give_the_label_fit(problem, method):
    X, y = problem
    labels = SoftmaxRegression(calibration=method, random_state=0, **TIGHT)
    soft = SoftmaxRegression(calibration=method, random_state=0, **TIGHT)
    labels.fit(X, y)
    soft.fit(X, np.eye(3)[y])
    assert_allclose(soft.coef_, labels.coef_, rtol=1e-4, atol=1e-6)
    assert_allclose(soft.calibration_scale_, labels.calibration_scale_, rtol=1e-4)


def test_ensemble_log_loss_level_with_calibrated_classifier_cv():
    # digits at a weak penalty: CalibratedClassifierCV's default (an ensemble
    # of temperature-scaled fold models) is its best variant there.
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.4, stratify=y, random_state=0
    )
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    params = {"C": 100.0, "max_iter": 1000}
    ours = SoftmaxRegression(calibration="ensemble", random_state=0, **params)
    ours.fit(X_train, y_train)
    theirs = CalibratedClassifierCV(
        SoftmaxRegression(**params),
        method="temperature",
        cv=StratifiedKFold(5, shuffle=True, random_state=0),
    ).fit(X_train, y_train)
    ours_loss = log_loss(y_test, ours.predict_proba(X_test))
    theirs_loss = log_loss(y_test, theirs.predict_proba(X_test))
    assert ours_loss <= 1.02 * theirs_loss


def test_refusals(problem):
    X, y = problem
    with pytest.raises(ValueError, match=r"temperature=1\.0 or 'auto'"):
        SoftmaxRegression(calibration="vector", temperature=2.0).fit(X, y)
    with pytest.raises(ValueError, match="bounds"):
        SoftmaxRegression(calibration="vector", bounds=(-1, 1)).fit(X, y)
    with pytest.raises(ValueError, match="convex"):
        SoftmaxRegression(calibration="ensemble", normalizer="taylor").fit(X, y)
    with pytest.raises(ValueError, match="calibration"):
        SoftmaxRegression(calibration="isotonic").fit(X, y)


def test_dask_input_is_refused(problem):
    da = pytest.importorskip("dask.array")
    X, y = problem
    with pytest.raises(ValueError, match="Dask"):
        SoftmaxRegression(calibration="vector").fit(
            da.from_array(X, chunks=100), da.from_array(y, chunks=100)
        )


@pytest.mark.parametrize("method", ["vector", "ensemble"])
def test_cv_calibrates_from_the_held_out_scores_of_the_chosen_models(problem, method):
    from softreg import SoftmaxRegressionCV

    X, y = problem
    est = SoftmaxRegressionCV(
        Cs=[0.1, 10.0], cv=3, calibration=method, random_state=0, tol=1e-8
    ).fit(X, y)
    plain = SoftmaxRegressionCV(Cs=[0.1, 10.0], cv=3, tol=1e-8).fit(X, y)
    assert est.C_ == plain.C_
    # The held-out scores of the chosen C, from the stored paths.
    i = int(np.flatnonzero(est.Cs_ == est.C_)[0])
    scores = np.zeros((len(y), 3))
    fold_of = np.zeros(len(y), dtype=int)
    for f, (_, test) in enumerate(StratifiedKFold(3).split(X, y)):
        path = est.coefs_paths_[f, 0, i]
        scores[test] = X[test] @ path[:, :-1].T + path[:, -1]
        fold_of[test] = f
    expected = fit_calibration(
        Softmax(), scores, np.eye(3)[y], np.ones(len(y)), fold_of
    )
    assert_allclose(est.calibration_scale_, expected.scale, rtol=1e-4)
    base = plain.coef_, plain.intercept_
    if method == "ensemble":  # the mean of the chosen fold models, no refit
        mean = est.coefs_paths_[:, 0, i].astype(np.float64).mean(axis=0)
        base = mean[:, :-1], mean[:, -1]
    coef, intercept = _centred(*expected.fold_into(*base))
    assert_allclose(est.coef_, coef, rtol=1e-4, atol=1e-6)
    assert_allclose(est.intercept_, intercept, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("method", ["vector", "ensemble"])
def test_float32_stays_float32_and_soft_targets_work(problem, method):
    X, y = problem
    rng = np.random.RandomState(0)
    soft = 0.7 * np.eye(3)[y] + 0.3 * rng.dirichlet(np.ones(3), size=len(y))
    est = SoftmaxRegression(calibration=method, random_state=0)
    est.fit(X.astype(np.float32), soft)
    assert est.coef_.dtype == np.float32
    assert est.predict_proba(X.astype(np.float32)).dtype == np.float32
    assert np.all(np.isfinite(est.calibration_scale_))
    assert_allclose(est.predict_proba(X.astype(np.float32)).sum(axis=1), 1, rtol=1e-5)


def test_pull_choice_splits_by_fold_and_prefers_temperature_on_ties():
    # Scores whose miscalibration is one temperature: the freer maps cannot
    # predict the other half better, so plain temperature is chosen.
    rng = np.random.RandomState(0)
    Z = rng.normal(scale=3.0, size=(600, 3))
    P = np.exp(Z / 3.0)
    P /= P.sum(axis=1, keepdims=True)
    y = (rng.uniform(size=(600, 1)) > P.cumsum(axis=1)).sum(axis=1)
    folds = np.arange(600) % 5
    m = fit_calibration(Softmax(), Z, np.eye(3)[y], np.ones(600), folds)
    assert m.pull == np.inf
    assert_allclose(m.scale, 1 / 3.0, rtol=0.15)
    # Per-class miscalibration (class 2 twice as sharp) is worth a freer map.
    Z2 = Z * np.array([1.0, 1.0, 2.0])
    m2 = fit_calibration(Softmax(), Z2, np.eye(3)[y], np.ones(600), folds)
    assert np.isfinite(m2.pull)
    assert m2.scale[2] < m2.scale[:2].min()


def test_refit_without_calibration_drops_the_map():
    X, y = load_iris(return_X_y=True)
    clf = SoftmaxRegression(calibration="vector", cv=3, random_state=0).fit(X, y)
    assert hasattr(clf, "calibration_scale_")
    clf.set_params(calibration=None).fit(X, y)
    plain = SoftmaxRegression().fit(X, y)
    assert not hasattr(clf, "calibration_scale_")
    assert not hasattr(clf, "calibration_pull_")
    assert_array_equal(clf.coef_, plain.coef_)


@pytest.mark.parametrize("method", ["vector", "ensemble"])
def test_maps_keep_the_sharpness_of_the_chosen_temperature(problem, method):
    # Vector scaling redistributes the scales between the classes and adds
    # biases, but its mean scale is 1 / T of the temperature rule on the
    # same out-of-fold scores: a freer map cannot bring back the unbounded
    # sharpening the temperature's prior refuses.
    X, y = problem
    est = SoftmaxRegression(C=0.01, calibration=method, random_state=0, **TIGHT)
    est.fit(X, y)
    scores = _fold_models(X, y, est)[0]
    T = fit_temperature(Softmax(), scores, y, np.ones(len(y)))
    assert_allclose(est.calibration_scale_.mean(), 1 / T, rtol=1e-4)
