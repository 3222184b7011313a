"""Temperature: the (T, C) <-> (1, C/T^2) identity, temperature="auto", calibration."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.calibration import CalibratedClassifierCV
from sklearn.datasets import load_digits, load_iris, make_classification
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import log_loss
from sklearn.model_selection import KFold, train_test_split
from sklearn.preprocessing import StandardScaler

from softreg import SoftmaxRegression
from softreg._objective import LinearObjective
from softreg._temperature import fit_temperature
from softreg.normalizers._registry import NORMALIZERS

TIGHT = {"tol": 1e-10, "max_iter": 10_000}
CONVEX = ["softmax", "sparsemax", "entmax15"]


@pytest.fixture(scope="module")
def problem():
    X, y = make_classification(
        n_samples=300, n_features=8, n_informative=6, n_classes=4, random_state=0
    )
    return StandardScaler().fit_transform(X), y


@pytest.mark.parametrize("name", sorted(NORMALIZERS))
@pytest.mark.parametrize("T", [0.3, 2.0])
def test_objective_identity_t_c_equals_one_c_over_t2(problem, name, T):
    # f_{T,C}(W) = f_{1,C/T^2}(W/T): substitute V = W/T in the objective.
    X, y = problem
    rng = np.random.RandomState(0)
    sw = rng.uniform(0.5, 2, size=y.size)
    C = 0.7
    hot = LinearObjective(
        X, y, 4, NORMALIZERS[name](), sw, C=C, fit_intercept=True, temperature=T
    )
    cold = LinearObjective(
        X, y, 4, NORMALIZERS[name](), sw, C=C / T**2, fit_intercept=True
    )
    w = rng.normal(size=hot.n_params)
    loss_hot, grad_hot = hot.loss_gradient(w)
    loss_cold, grad_cold = cold.loss_gradient(w / T)
    assert_allclose(loss_hot, loss_cold, rtol=1e-10)
    assert_allclose(grad_hot, grad_cold / T, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("name", CONVEX)
def test_fitted_identity_for_convex_normalizers(problem, name):
    X, y = problem
    T, C = 3.0, 0.5
    hot = SoftmaxRegression(normalizer=name, temperature=T, C=C, **TIGHT).fit(X, y)
    cold = SoftmaxRegression(normalizer=name, C=C / T**2, **TIGHT).fit(X, y)
    assert hot.temperature_ == T
    assert_allclose(hot.coef_, T * cold.coef_, atol=1e-4)
    assert_allclose(hot.predict_proba(X), cold.predict_proba(X), atol=1e-5)
    assert_array_equal(hot.predict(X), cold.predict(X))


def test_temperature_divides_scores_in_every_predict_method(problem):
    X, y = problem
    clf = SoftmaxRegression(temperature=2.0).fit(X, y)
    raw = X @ clf.coef_.T + clf.intercept_
    assert_allclose(clf.decision_function(X), raw / 2.0)
    expected = np.exp(raw / 2.0)
    expected /= expected.sum(axis=1, keepdims=True)
    assert_allclose(clf.predict_proba(X), expected)
    assert_allclose(clf.predict_log_proba(X), np.log(expected))


@pytest.fixture(scope="module")
def overfit_digits():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16.0, y, test_size=0.4, random_state=0)


def test_auto_lowers_held_out_log_loss_on_an_overfit_model(overfit_digits):
    X_train, X_test, y_train, y_test = overfit_digits
    params = {"C": 1e4, "max_iter": 2000, "random_state": 0}
    plain = SoftmaxRegression(**params).fit(X_train, y_train)
    auto = SoftmaxRegression(temperature="auto", **params).fit(X_train, y_train)
    assert auto.temperature_ > 1.5  # overconfident: spread the probabilities
    before = log_loss(y_test, plain.predict_proba(X_test))
    after = log_loss(y_test, auto.predict_proba(X_test))
    assert after < 0.7 * before
    assert_array_equal(auto.predict(X_test), plain.predict(X_test))


@pytest.mark.parametrize("name", CONVEX)
def test_auto_never_changes_predict_for_monotone_normalizers(problem, name):
    X, y = problem
    # Underconfident under a strong penalty: T well below 1.
    plain = SoftmaxRegression(normalizer=name, C=1e-3).fit(X, y)
    auto = SoftmaxRegression(
        normalizer=name, C=1e-3, temperature="auto", random_state=0
    ).fit(X, y)
    assert auto.temperature_ != 1.0
    assert_array_equal(auto.coef_, plain.coef_)  # trained at T=1 either way
    assert_array_equal(auto.predict(X), plain.predict(X))


def test_auto_is_reproducible_and_accepts_a_splitter(problem):
    X, y = problem
    a = SoftmaxRegression(temperature="auto", cv=3, random_state=1).fit(X, y)
    b = SoftmaxRegression(temperature="auto", cv=3, random_state=1).fit(X, y)
    assert a.temperature_ == b.temperature_
    splits = KFold(4, shuffle=True, random_state=0)
    c = SoftmaxRegression(temperature="auto", cv=splits).fit(X, y)
    assert np.isfinite(c.temperature_)
    assert c.temperature_ > 0


def test_fit_temperature_matches_sklearn_temperature_scaling(overfit_digits):
    # Independent reference: CalibratedClassifierCV(method="temperature") fits
    # softmax(beta * decision_function) by log-loss on the calibration data.
    X_train, X_cal, y_train, y_cal = overfit_digits
    model = SoftmaxRegression(C=1e4, max_iter=2000).fit(X_train, y_train)
    scores = model.decision_function(X_cal)
    # Without the prior on log T, the criterion is scikit-learn's.
    T = fit_temperature(
        model.normalizer_, scores, y_cal, np.ones(y_cal.size), prior_scale=np.inf
    )
    calibrated = CalibratedClassifierCV(
        FrozenEstimator(model), method="temperature"
    ).fit(X_cal, y_cal)
    beta = calibrated.calibrated_classifiers_[0].calibrators[0].beta_
    assert_allclose(T, 1.0 / beta, rtol=1e-4)
    expected = calibrated.predict_proba(X_cal)
    model.temperature_ = T  # the frozen model is this object: set T only now
    assert_allclose(model.predict_proba(X_cal), expected, atol=1e-5)


@pytest.mark.parametrize("name", sorted(NORMALIZERS))
def test_inside_calibrated_classifier_cv(name):
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    est = SoftmaxRegression(normalizer=name, random_state=0, max_iter=500)
    # Cross-validated use: fits, and gives probabilities.
    calibrated = CalibratedClassifierCV(est, method="temperature", cv=3).fit(X, y)
    proba = calibrated.predict_proba(X)
    assert np.all(np.isfinite(proba))
    assert_allclose(proba.sum(axis=1), 1)
    # On one frozen model, sklearn's softmax(decision_function / T) keeps the
    # model's own argmax: decision_function ranks classes like predict_proba.
    model = est.fit(X, y)
    frozen = CalibratedClassifierCV(FrozenEstimator(model), method="temperature")
    frozen.fit(X, y)
    assert_array_equal(frozen.predict(X), model.predict(X))


@pytest.mark.parametrize("bad", [0, -1.0, np.nan, np.inf, "hot", None])
def test_invalid_temperature(problem, bad):
    X, y = problem
    with pytest.raises(ValueError, match="'temperature' parameter"):
        SoftmaxRegression(temperature=bad).fit(X, y)
