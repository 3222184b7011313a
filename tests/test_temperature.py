"""Temperature: the (T, C) <-> (1, C/T^2) identity, temperature="auto", calibration."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.optimize import minimize_scalar
from scipy.special import expit
from sklearn.calibration import CalibratedClassifierCV
from sklearn.datasets import load_digits, load_iris, make_classification
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import log_loss
from sklearn.model_selection import KFold, train_test_split
from sklearn.preprocessing import StandardScaler

from softreg import SoftmaxRegression
from softreg._objective import LinearObjective
from softreg._temperature import fit_temperature
from softreg.normalizers import Softmax
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
    # coef_ are the scores' coefficients: those of (1, C / T**2) themselves.
    assert_allclose(hot.coef_, cold.coef_, atol=1e-4 / T)
    assert_allclose(hot.intercept_, cold.intercept_, atol=1e-4 / T)
    assert_allclose(hot.predict_proba(X), cold.predict_proba(X), atol=1e-5)
    assert_array_equal(hot.predict(X), cold.predict(X))


def test_temperature_is_folded_into_coef_for_every_predict_method(problem):
    X, y = problem
    clf = SoftmaxRegression(temperature=2.0, **TIGHT).fit(X, y)
    # The training objective is in W = temperature_ * coef_: its gradient
    # vanishes there (the scores W x / T are those of coef_).
    objective = LinearObjective(
        X, y, 4, NORMALIZERS["softmax"](), np.ones(y.size), 1.0, True, 2.0
    )
    W = np.vstack([clf.coef_.T, clf.intercept_[None, :]]) * clf.temperature_
    assert np.abs(objective.loss_gradient(W.ravel())[1]).max() < 1e-8
    scores = X @ clf.coef_.T + clf.intercept_
    assert_allclose(clf.decision_function(X), scores)
    expected = np.exp(scores)
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
    # Trained at T=1 either way; the fitted T is folded into coef_.
    assert_allclose(auto.coef_ * auto.temperature_, plain.coef_, rtol=1e-13)
    assert_allclose(auto.intercept_ * auto.temperature_, plain.intercept_, rtol=1e-13)
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
    # The frozen model is this object: fold T into its scores only now.
    model.coef_, model.intercept_ = model.coef_ / T, model.intercept_ / T
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


def _summed_log_loss(scores, y, log_t):
    """Summed log loss of softmax(scores / T), from scikit-learn's log_loss."""
    Z = scores * np.exp(-log_t)
    P = np.exp(Z - Z.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    return y.size * log_loss(y, P, labels=np.arange(scores.shape[1]))


def _bayes_rule(scores, y, sigma=1.0):
    """The MAP of log T under N(0, sigma^2) and its Laplace log Bayes factor.

    Written from the formulas, with scikit-learn's log_loss and SciPy, as a
    reference independent of softreg's criterion.
    """

    def posterior(t):
        return _summed_log_loss(scores, y, t) + t**2 / (2 * sigma**2)

    tau = minimize_scalar(
        posterior,
        bounds=(np.log(1e-3), np.log(1e3)),
        method="bounded",
        options={"xatol": 1e-10},
    ).x
    h = 1e-3
    curvature = (
        _summed_log_loss(scores, y, tau + h)
        - 2 * _summed_log_loss(scores, y, tau)
        + _summed_log_loss(scores, y, tau - h)
    ) / h**2
    log_bayes = (
        _summed_log_loss(scores, y, 0.0)
        - posterior(tau)
        - 0.5 * np.log1p(sigma**2 * max(curvature, 0.0))
    )
    return tau, log_bayes


def _near_separable_scores(seed, n_rows=107, true_t=0.7, shift=6.0):
    """Confident scores, labels drawn from softmax(scores / true_t), the truth.

    Returns the scores, the labels and the true probabilities.
    """
    rng = np.random.RandomState(seed)
    Z = rng.normal(size=(n_rows, 3))
    Z[np.arange(n_rows), rng.randint(3, size=n_rows)] += shift
    P = np.exp(Z / true_t)
    P /= P.sum(axis=1, keepdims=True)
    y = (rng.uniform(size=(n_rows, 1)) > P.cumsum(axis=1)).sum(axis=1)
    return Z, y, P


def _excess_loss(Z, P, T):
    """Expected log loss of softmax(Z / T) on new labels, above the truth's."""
    S = Z / T
    log_q = S - S.max(axis=1, keepdims=True)
    log_q -= np.log(np.exp(log_q).sum(axis=1, keepdims=True))
    return float(np.mean(np.sum(P * (np.log(P) - log_q), axis=1)))


def test_no_held_out_error_cannot_buy_a_catastrophic_sharpening():
    # The situation of issue 18 (wine at C=1): 107 confident held-out rows
    # drawn from a mildly underconfident model (true T = 0.7) happen to hold
    # no error. The held-out loss then keeps falling as T -> 0: its plain
    # minimiser (scikit-learn's temperature scaling) sharpens until the loss
    # underflows. The expected loss on new labels is known exactly here.
    Z, y, P = _near_separable_scores(seed=1)
    assert np.all(Z.argmax(axis=1) == y)
    w = np.ones(y.size)
    plain = fit_temperature(Softmax(), Z, y, w, prior_scale=np.inf)
    T = fit_temperature(Softmax(), Z, y, w)
    assert plain < 0.1
    # The prior's optimum pays tau^2 / 2 out of the drop of the summed loss
    # from T = 1, which is at most that loss itself (losses are positive):
    # the sharpening is capped whatever the rows.
    total_at_one = _summed_log_loss(Z, y, 0.0)
    assert abs(np.log(T)) <= np.sqrt(2 * total_at_one)
    # Better than leaving the model alone, which is far better than the
    # plain optimum (factors above 10 between the three, for any rounding).
    assert _excess_loss(Z, P, T) < _excess_loss(Z, P, 1.0)
    assert _excess_loss(Z, P, 1.0) < _excess_loss(Z, P, plain)


def test_wine_split_of_issue_18_is_not_sharpened_to_a_catastrophe():
    # Issue 18's case: wine, 60/40 split random_state=6, C=1, the fold layout
    # of random_state=0. With those folds scikit-learn's
    # CalibratedClassifierCV(ensemble=False) finds T of about 0.06 (one
    # held-out error) and multiplies the held-out log loss several times.
    from sklearn.datasets import load_wine
    from sklearn.pipeline import make_pipeline

    X, y = load_wine(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.4, stratify=y, random_state=6
    )
    params = {"C": 1.0, "max_iter": 1000}
    folds = SoftmaxRegression(random_state=0)._folds()

    def held_out_loss(model):
        model = make_pipeline(StandardScaler(), model).fit(X_train, y_train)
        return model, log_loss(y_test, model.predict_proba(X_test))

    _, plain_loss = held_out_loss(SoftmaxRegression(**params))
    theirs, theirs_loss = held_out_loss(
        CalibratedClassifierCV(
            SoftmaxRegression(**params), method="temperature", ensemble=False, cv=folds
        )
    )
    ours, ours_loss = held_out_loss(
        SoftmaxRegression(calibration="temperature", random_state=0, **params)
    )
    theirs_t = 1 / theirs[-1].calibrated_classifiers_[0].calibrators[0].beta_
    assert theirs_t < 0.1
    assert theirs_loss > 3 * plain_loss
    # Solver tolerances move T by far less than these factors.
    assert ours[-1].temperature_ > 3 * theirs_t
    assert ours_loss < 1.5 * plain_loss


@pytest.mark.parametrize("seed", range(3))
def test_temperature_is_the_posterior_mean_of_the_two_part_prior(seed):
    # Scores of mixed confidence: an independent recomputation of the rule,
    # log T = expit(log B) * tau_hat with tau_hat the MAP of log T under
    # N(0, 1) and log B the Laplace log Bayes factor of a free T against
    # T = 1, agrees with fit_temperature. The reference's curvature is a
    # second difference (relative error ~1e-6 here); it enters log B through
    # log1p and expit' <= 1/4, so log T agrees to well within 1e-5.
    rng = np.random.RandomState(seed)
    n = 120
    Z = rng.normal(scale=2.0, size=(n, 3))
    P = np.exp(Z / rng.uniform(0.3, 3.0))
    P /= P.sum(axis=1, keepdims=True)
    y = (rng.uniform(size=(n, 1)) > P.cumsum(axis=1)).sum(axis=1)
    T = fit_temperature(Softmax(), Z, y, np.ones(n))
    tau, log_bayes = _bayes_rule(Z, y)
    assert_allclose(np.log(T), expit(log_bayes) * tau, atol=1e-5)


def test_weights_count_as_rows_in_the_prior():
    # The prior weighs against the summed loss with sample weights counted
    # as rows (as in the model's objective): integer weights give the
    # temperature of the repeated rows.
    rng = np.random.RandomState(0)
    Z, y, _ = _near_separable_scores(2, n_rows=60)
    Z = Z * 0.3
    w = rng.randint(1, 4, size=y.size)
    weighted = fit_temperature(Softmax(), Z, y, w.astype(float))
    repeated = fit_temperature(
        Softmax(), np.repeat(Z, w, axis=0), np.repeat(y, w), np.ones(w.sum())
    )
    assert weighted != 1.0
    assert_allclose(weighted, repeated, rtol=1e-10)


def test_pure_noise_leaves_the_uncalibrated_fit():
    # Labels independent of X: the fold models' scores are small noise, and
    # the plain held-out optimum flattens them all the way to the search
    # bound. With the prior, log T moves at most sqrt(2 * gain) from 0 (the
    # uncalibrated fit), where gain is the largest drop of the summed
    # held-out loss over any T: at the MAP, tau^2 / 2 <= L(0) - L(tau), and
    # the posterior mean shrinks tau further towards 0. The fold models are
    # refitted here to recompute gain.
    rng = np.random.RandomState(0)
    X = rng.normal(size=(240, 5))
    y = rng.randint(3, size=240)
    est = SoftmaxRegression(C=1.0, temperature="auto", random_state=0, **TIGHT)
    est.fit(X, y)
    splitter = est._folds()
    Z = np.zeros((y.size, 3))
    for train, test in splitter.split(X, y):
        m = SoftmaxRegression(C=1.0, **TIGHT).fit(X[train], y[train])
        Z[test] = X[test] @ m.coef_.T + m.intercept_
    plain = fit_temperature(Softmax(), Z, y, np.ones(y.size), prior_scale=np.inf)
    assert plain > 100
    # The lowest summed loss over the search interval: a grid finds the
    # basin, Brent's method its bottom.
    grid = np.linspace(np.log(1e-3), np.log(1e3), 2001)
    start = grid[np.argmin([_summed_log_loss(Z, y, t) for t in grid])]
    bottom = minimize_scalar(
        lambda t: _summed_log_loss(Z, y, t),
        bounds=(max(start - 0.01, grid[0]), min(start + 0.01, grid[-1])),
        method="bounded",
    ).fun
    gain = _summed_log_loss(Z, y, 0.0) - min(bottom, _summed_log_loss(Z, y, start))
    # Noise calls for flattening (the best prediction is the class
    # frequencies), never for sharpening, and by no more than the MAP bound.
    assert est.temperature_ >= 1.0
    assert np.log(est.temperature_) <= np.sqrt(2 * gain)
