"""Property-based tests (hypothesis) of the normalizers and the estimator.

Score matrices are generated with the hostile cases drawn on purpose:
magnitudes from 1e-300 to 1e300, signed zeros, ties, rows with one dominant
class and rows with every score equal. Each property says what it checks.
"""

import os
import warnings

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning

from softreg import SoftmaxRegression
from softreg.normalizers import (
    Entmax15,
    Softmax,
    Sparsemax,
    Spherical,
    Standard,
    Taylor,
)

NORMALIZERS = [
    Softmax(),
    Taylor(),
    Spherical(),
    Spherical(eps=1e-3),
    Sparsemax(),
    Entmax15(),
    Standard(),
    Standard(eps=1e-3),
]
IDS = [repr(n) for n in NORMALIZERS]
SPARSE = (Sparsemax, Entmax15)
# SOFTREG_HYPOTHESIS_EXAMPLES raises the number of examples for a bug hunt.
FAST = settings(
    max_examples=int(os.environ.get("SOFTREG_HYPOTHESIS_EXAMPLES", 40)), deadline=None
)
SLOW = settings(
    max_examples=max(8, int(os.environ.get("SOFTREG_HYPOTHESIS_EXAMPLES", 40)) // 5),
    deadline=None,
)


@st.composite
def score_matrices(draw, max_abs=1e300, dtype=np.float64):
    """Score matrices of 1-5 rows and 2-6 classes, hostile by construction."""
    n = draw(st.integers(1, 5))
    k = draw(st.integers(2, 6))
    scale = draw(st.sampled_from([1e-300, 1e-8, 1.0, 30.0, 1e4, 1e150, max_abs]))
    unit = arrays(
        np.float64,
        (n, k),
        elements=st.floats(-1, 1, allow_nan=False, allow_infinity=False),
    )
    Z = draw(unit) * min(scale, max_abs)
    kind = draw(st.sampled_from(["plain", "ties", "dominant", "equal", "zeros"]))
    if kind == "ties":
        Z[:, 1] = Z[:, 0]
    elif kind == "dominant":
        Z[:, draw(st.integers(0, k - 1))] = max_abs
    elif kind == "equal":
        Z[:] = Z[:, :1]
    elif kind == "zeros":
        Z[Z == Z] = 0.0
        Z[:, ::2] = -0.0
    return Z.astype(dtype)


def _quietly(func, *args, **kwargs):
    """Call ``func`` turning every warning (overflow, invalid...) into an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise", under="ignore"):
            return func(*args, **kwargs)


def _one_hot_rows(n, k, classes):
    Y = np.zeros((n, k))
    Y[np.arange(n), np.asarray(classes) % k] = 1
    return Y


@pytest.mark.parametrize("normalizer", NORMALIZERS, ids=IDS)
@FAST
@given(Z=score_matrices(), cls=st.lists(st.integers(0, 5), min_size=5, max_size=5))
def test_rows_on_the_simplex_no_nan_no_warning(normalizer, Z, cls):
    P = _quietly(normalizer, Z)
    assert P.shape == Z.shape
    assert P.dtype == Z.dtype
    assert np.isfinite(P).all()
    assert (P >= 0).all()
    assert_allclose(P.sum(axis=1), 1.0, rtol=0, atol=1e-12 * Z.shape[1])
    Y = _one_hot_rows(*Z.shape, cls[: Z.shape[0]])
    loss, grad = _quietly(normalizer.loss_gradient, Y, Z)
    assert np.isfinite(loss).all()
    assert np.isfinite(grad).all()
    assert (loss >= -1e-12 * (1 + np.abs(Z).max())).all()


@pytest.mark.parametrize("normalizer", NORMALIZERS, ids=IDS)
@FAST
@given(Z=score_matrices(max_abs=1e30, dtype=np.float32))
def test_float32_rows_on_the_simplex(normalizer, Z):
    P = _quietly(normalizer, Z)
    assert P.dtype == np.float32
    assert np.isfinite(P).all()
    assert (P >= 0).all()
    assert_allclose(P.sum(axis=1), 1.0, rtol=0, atol=1e-5 * Z.shape[1])


@st.composite
def dyadic_rows(draw):
    """Scores ``m * 2**e`` and a shift that adds to them exactly."""
    n = draw(st.integers(1, 4))
    k = draw(st.integers(2, 6))
    e = draw(st.integers(-40, 40))
    ints = st.integers(-(2**20), 2**20)
    M = np.array(draw(st.lists(ints, min_size=n * k, max_size=n * k))).reshape(n, k)
    shift = draw(ints)
    return np.ldexp(M.astype(np.float64), e), np.ldexp(float(shift), e)


@pytest.mark.parametrize(
    "normalizer", [n for n in NORMALIZERS if n.shift_invariant], ids=repr
)
@FAST
@given(rows=dyadic_rows())
def test_shift_invariance_where_declared(normalizer, rows):
    Z, c = rows
    assert_allclose(normalizer(Z + c), normalizer(Z), rtol=0, atol=1e-12)


@pytest.mark.parametrize("normalizer", NORMALIZERS, ids=IDS)
@FAST
@given(Z=score_matrices(), data=st.data())
def test_permutation_equivariance(normalizer, Z, data):
    perm = np.array(data.draw(st.permutations(range(Z.shape[1]))))
    P = normalizer(Z)
    assert_allclose(normalizer(Z[:, perm]), P[:, perm], rtol=0, atol=1e-12)
    Y = _one_hot_rows(*Z.shape, np.zeros(Z.shape[0], dtype=int))
    loss, grad = normalizer.loss_gradient(Y, Z)
    loss_p, grad_p = normalizer.loss_gradient(Y[:, perm], Z[:, perm])
    scale = 1 + np.abs(Z).max()
    assert_allclose(loss_p, loss, rtol=1e-12, atol=1e-12 * scale)
    assert_allclose(grad_p, grad[:, perm], rtol=1e-9, atol=1e-12)


def _declares_monotone(normalizer):
    # A normalizer declares itself monotone in each score by returning the
    # scores themselves as its decision values.
    Z = np.array([[0.0, 1.0]])
    return normalizer.decision(Z) is Z


@pytest.mark.parametrize("normalizer", NORMALIZERS, ids=IDS)
@FAST
@given(Z=score_matrices(max_abs=1e6), j=st.integers(0, 5), step=st.floats(1e-3, 1e3))
def test_decision_order_and_monotonicity(normalizer, Z, j, step):
    P = normalizer(Z)
    D = normalizer.decision(Z)
    # Every normalizer: a larger decision value never has a smaller probability.
    larger = D[:, :, None] > D[:, None, :]
    assert (P[:, :, None] >= P[:, None, :] - 1e-12)[larger].all()
    if _declares_monotone(normalizer):
        j %= Z.shape[1]
        Z2 = Z.copy()
        Z2[:, j] += step
        assert (normalizer(Z2)[:, j] >= P[:, j] - 1e-12).all()


@st.composite
def moderate_problem(draw):
    n = draw(st.integers(1, 4))
    k = draw(st.integers(2, 5))
    finite = st.floats(-6, 6, allow_nan=False, allow_infinity=False)
    Z = draw(arrays(np.float64, (n, k), elements=finite))
    if draw(st.booleans()):
        Y = _one_hot_rows(
            n, k, draw(st.lists(st.integers(0, 4), min_size=n, max_size=n))
        )
    else:
        W = draw(arrays(np.float64, (n, k), elements=st.floats(0.01, 1)))
        Y = W / W.sum(axis=1, keepdims=True)
    V = draw(arrays(np.float64, (n, k), elements=st.floats(-1, 1)))
    return Z, Y, V


def _same_support(normalizer, Zs):
    supports = [normalizer(Z) > 0 for Z in Zs]
    return all(np.array_equal(s, supports[0]) for s in supports)


@pytest.mark.parametrize("normalizer", NORMALIZERS, ids=IDS)
@FAST
@given(problem=moderate_problem())
def test_gradient_equals_finite_differences(normalizer, problem):
    Z, Y, V = problem
    h = 1e-6
    _, grad = normalizer.loss_gradient(Y, Z)
    plus, _ = normalizer.loss_gradient(Y, Z + h * V)
    minus, _ = normalizer.loss_gradient(Y, Z - h * V)
    directional = (plus - minus) / (2 * h)
    expected = np.einsum("ij,ij->i", grad, V)
    assert_allclose(directional, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("normalizer", NORMALIZERS, ids=IDS)
@FAST
@given(problem=moderate_problem(), data=st.data())
def test_hessp_consistent_with_the_gradient(normalizer, problem, data):
    Z, Y, V = problem
    h = 1e-6
    if isinstance(normalizer, SPARSE):
        # The gradient p - y is piecewise smooth: compare only where the
        # support does not change within the difference step.
        assume(_same_support(normalizer, [Z - 10 * h * V, Z, Z + 10 * h * V]))
    _, g_plus = normalizer.loss_gradient(Y, Z + h * V)
    _, g_minus = normalizer.loss_gradient(Y, Z - h * V)
    HV = normalizer.hessp(Z, V, Y=Y)
    assert_allclose(HV, (g_plus - g_minus) / (2 * h), rtol=1e-4, atol=1e-5)
    # ... and symmetric: <u, H v> = <v, H u>.
    U = data.draw(arrays(np.float64, Z.shape, elements=st.floats(-1, 1)))
    HU = normalizer.hessp(Z, U, Y=Y)
    assert_allclose(
        np.einsum("ij,ij->i", U, HV), np.einsum("ij,ij->i", V, HU), atol=1e-9
    )


# --- the estimator ---------------------------------------------------------


@st.composite
def classification_data(draw, max_rows=60):
    n = draw(st.integers(20, max_rows))
    p = draw(st.integers(1, 4))
    k = draw(st.integers(2, 4))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    # Noisy labels: overlapping classes, so the unpenalised MLE exists.
    y = (X @ rng.normal(size=(p, k)) + 1.5 * rng.normal(size=(n, k))).argmax(axis=1)
    y[:k] = np.arange(k)  # every class present
    return X, y, rng


CONVEX = ["softmax", "sparsemax", "entmax15"]


def _fit(X, y, normalizer="softmax", sample_weight=None, **kwargs):
    """A tightly converged fit; draws where the solver stalls are skipped."""
    params = {"normalizer": normalizer, "tol": 1e-10, "max_iter": 2000}
    params.update(kwargs)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf = SoftmaxRegression(**params).fit(X, y, sample_weight=sample_weight)
    assume(not any(issubclass(w.category, ConvergenceWarning) for w in caught))
    return clf


@pytest.mark.parametrize("normalizer", CONVEX)
@SLOW
@given(data=classification_data())
def test_refit_on_permuted_rows_gives_the_same_model(normalizer, data):
    X, y, rng = data
    perm = rng.permutation(X.shape[0])
    a, b = _fit(X, y, normalizer), _fit(X[perm], y[perm], normalizer)
    assert_allclose(b.coef_, a.coef_, rtol=1e-5, atol=1e-6)
    assert_allclose(b.intercept_, a.intercept_, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("normalizer", [*CONVEX, "standard"])
@SLOW
@given(data=classification_data())
def test_duplicated_rows_equal_sample_weight_two(normalizer, data):
    X, y, _ = data
    doubled = _fit(np.vstack([X, X]), np.concatenate([y, y]), normalizer)
    weighted = _fit(X, y, normalizer, sample_weight=np.full(X.shape[0], 2.0))
    assert_allclose(weighted.coef_, doubled.coef_, rtol=1e-5, atol=1e-6)
    assert_allclose(weighted.intercept_, doubled.intercept_, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("normalizer", ["softmax", "entmax15"])
@SLOW
@given(data=classification_data(), log_scale=st.floats(-3, 3), j=st.integers(0, 3))
def test_scaling_a_feature_scales_its_coefficient_inversely(
    normalizer, data, log_scale, j
):
    X, y, _ = data
    j %= X.shape[1]
    s = 10.0**log_scale
    Xs = X.copy()
    Xs[:, j] *= s
    a = _fit(X, y, normalizer, C=np.inf)
    b = _fit(Xs, y, normalizer, C=np.inf)
    # Skip draws where the unpenalised optimum is at infinity (separable).
    assume(np.abs(a.coef_).max() < 30)
    # The same model in the scaled units: the same probabilities.
    assert_allclose(b.predict_proba(Xs), a.predict_proba(X), atol=1e-4)
    if normalizer == "entmax15":
        # entmax's loss is exactly zero once every row's margin is large
        # enough: a whole region of coefficients is then optimal, and the
        # two fits may end at different points of it.
        return
    expected = a.coef_.copy()
    expected[:, j] /= s
    assert_allclose(b.coef_, expected, rtol=1e-4, atol=1e-5 * max(1, 1 / s))
    assert_allclose(b.intercept_, a.intercept_, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "normalizer",
    ["softmax", "taylor", "spherical", "sparsemax", "entmax15", "standard"],
)
@SLOW
@given(data=classification_data(max_rows=30), scale=st.sampled_from([1e-8, 1, 1e8]))
def test_predict_is_the_argmax_of_predict_proba(normalizer, data, scale):
    X, y, _ = data
    labels = np.array(["a", "b", "c", "d"])[y]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # any model will do
        clf = SoftmaxRegression(normalizer=normalizer, max_iter=50, random_state=0)
        clf.fit(X, labels)
    # Hostile queries: huge and tiny rows, exact ties between classes.
    Xq = np.vstack([X * scale, np.zeros_like(X[:2]), -X[:3] * scale])
    proba = clf.predict_proba(Xq)
    assert_array_equal(clf.predict(Xq), clf.classes_[proba.argmax(axis=1)])
