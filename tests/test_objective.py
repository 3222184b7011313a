"""The blocked objective against plain, unblocked references.

The references here are written out in numpy on the whole array at once
(no blocks, no threads, no softreg code), and checked in turn against
scikit-learn's ``LinearModelLoss`` and against finite differences.
"""

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn._loss.loss import HalfMultinomialLoss
from sklearn.linear_model._linear_loss import LinearModelLoss

from softreg._blocks import BlockRunner
from softreg._objective import LinearObjective, map_score_blocks
from softreg.normalizers import Softmax

N, P, K = 211, 6, 4


def _problem(seed=0, dtype=np.float64, layout="dense", weights="random"):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, P)) * rng.uniform(0.5, 3, size=P) + rng.normal(size=P)
    X[rng.random(X.shape) < 0.4] = 0.0  # zeros, so CSR is a real sparse matrix
    y = rng.integers(0, K, N)
    sw = rng.uniform(0.2, 3, N) if weights == "random" else np.full(N, 0.7)
    X = X.astype(dtype)
    if layout == "csr":
        X = sp.csr_matrix(X)
    elif layout == "fortran":
        X = np.asfortranarray(X)
    return X, y, sw.astype(dtype)


def plain_objective(w, X, y, sw, C, T, fit_intercept):
    """Loss and gradient on the whole array, straight from the formula."""
    X = X.toarray() if sp.issparse(X) else np.asarray(X, dtype=np.float64)
    sw = sw.astype(np.float64)
    n_params_w = P * K
    Wt = w[:n_params_w].reshape(P, K)
    b = w[n_params_w:] if fit_intercept else np.zeros(K)
    Z = (X @ Wt + b) / T
    Zmax = Z.max(axis=1, keepdims=True)
    logsumexp = Zmax[:, 0] + np.log(np.exp(Z - Zmax).sum(axis=1))
    S = sw.sum()
    l2 = 0.0 if np.isinf(C) else 1.0 / (C * S)
    loss = (sw @ (logsumexp - Z[np.arange(N), y])) / S + 0.5 * l2 * np.sum(Wt**2)
    P_ = np.exp(Z - logsumexp[:, None])
    P_[np.arange(N), y] -= 1
    R = P_ * (sw / (S * T))[:, None]
    grad = [X.T @ R + l2 * Wt]
    if fit_intercept:
        grad.append(R.sum(axis=0)[None, :])
    return loss, np.vstack(grad).ravel()


def _objective(X, y, sw, C=2.0, T=1.0, fit_intercept=True, n_threads=1, rows=None):
    return LinearObjective(
        X,
        y,
        K,
        Softmax(),
        sw,
        C=C,
        fit_intercept=fit_intercept,
        temperature=T,
        runner=BlockRunner(n_threads),
        block_rows=rows,
    )


def _params(seed, fit_intercept=True):
    return np.random.default_rng(seed).normal(size=(P + int(fit_intercept)) * K)


@pytest.mark.parametrize("layout", ["dense", "fortran", "csr"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("n_threads", "rows"), [(1, None), (1, 37), (3, 37), (2, 1)])
@pytest.mark.parametrize("weights", ["random", "equal"])
def test_blocked_loss_gradient_matches_plain_formula(
    layout, dtype, n_threads, rows, weights
):
    X, y, sw = _problem(dtype=dtype, layout=layout, weights=weights)
    obj = _objective(X, y, sw, T=1.7, n_threads=n_threads, rows=rows)
    w = _params(1)
    with obj.running():
        loss, grad = obj.loss_gradient(w)
    ref_loss, ref_grad = plain_objective(w, X, y, sw, 2.0, 1.7, True)
    rtol = 1e-6 if dtype == np.float32 else 1e-12
    assert_allclose(loss, ref_loss, rtol=rtol)
    assert_allclose(grad, ref_grad, rtol=rtol, atol=rtol * np.abs(ref_grad).max())
    assert grad.dtype == np.float64


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("C", [0.3, np.inf])
def test_penalty_and_intercept_variants(fit_intercept, C):
    X, y, sw = _problem(seed=3)
    obj = _objective(X, y, sw, C=C, fit_intercept=fit_intercept, rows=50)
    w = _params(2, fit_intercept)
    loss, grad = obj.loss_gradient(w)
    ref_loss, ref_grad = plain_objective(w, X, y, sw, C, 1.0, fit_intercept)
    assert_allclose(loss, ref_loss, rtol=1e-12)
    assert_allclose(grad, ref_grad, rtol=1e-11, atol=1e-14)


def test_plain_formula_is_sklearns_objective():
    """The reference above is LogisticRegression's objective (l2 = 1/(C S))."""
    X, y, sw = _problem(seed=4)
    C = 0.7
    w = _params(5)
    loss, grad = plain_objective(w, X, y, sw, C, 1.0, True)
    lml = LinearModelLoss(
        base_loss=HalfMultinomialLoss(n_classes=K), fit_intercept=True
    )
    # sklearn's coef is (n_classes, n_features + 1); its loss is averaged
    # by the weight sum, the penalty l2/2 ||W||^2 as here.
    coef = w.reshape(P + 1, K).T
    sk_loss, sk_grad = lml.loss_gradient(
        coef, X, y.astype(float), sample_weight=sw, l2_reg_strength=1 / (C * sw.sum())
    )
    assert_allclose(loss, sk_loss, rtol=1e-12)
    assert_allclose(grad.reshape(P + 1, K).T, sk_grad, rtol=1e-10, atol=1e-14)


def test_gradient_matches_finite_differences():
    X, y, sw = _problem(seed=6)
    obj = _objective(X, y, sw, T=0.8, rows=29)
    w = _params(7)
    _, grad = obj.loss_gradient(w)
    eps = 1e-6
    fd = np.array(
        [
            (obj.loss_gradient(w + eps * e)[0] - obj.loss_gradient(w - eps * e)[0])
            / (2 * eps)
            for e in np.eye(w.size)
        ]
    )
    assert_allclose(grad, fd, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("layout", ["dense", "csr"])
@pytest.mark.parametrize("n_threads", [1, 3])
@pytest.mark.parametrize("weights", ["random", "equal"])
def test_hessp_matches_finite_differences_of_the_gradient(layout, n_threads, weights):
    X, y, sw = _problem(seed=8, layout=layout, weights=weights)
    obj = _objective(X, y, sw, C=0.5, T=1.3, n_threads=n_threads, rows=41)
    w, v = _params(9), _params(10)
    with obj.running():
        hv = obj.hessp(w, v)
    eps = 1e-5
    fd = (
        plain_objective(w + eps * v, X, y, sw, 0.5, 1.3, True)[1]
        - plain_objective(w - eps * v, X, y, sw, 0.5, 1.3, True)[1]
    ) / (2 * eps)
    assert_allclose(hv, fd, rtol=1e-6, atol=1e-8 * np.abs(fd).max())


def test_hessian_is_symmetric_positive_semidefinite():
    X, y, sw = _problem(seed=11)
    obj = _objective(X, y, sw, C=np.inf, rows=60)
    w = _params(12)
    H = np.column_stack([obj.hessp(w, e) for e in np.eye(obj.n_params)])
    assert_allclose(H, H.T, atol=1e-12)
    assert np.linalg.eigvalsh(H).min() > -1e-10


def test_same_input_and_threads_give_identical_bits():
    X, y, sw = _problem(seed=13)
    w = _params(14)
    results = []
    for _ in range(3):
        obj = _objective(X, y, sw, n_threads=3, rows=11)
        with obj.running():
            results.append((*obj.loss_gradient(w), obj.hessp(w, w)))
    for loss, grad, hv in results[1:]:
        assert loss == results[0][0]
        assert_array_equal(grad, results[0][1])
        assert_array_equal(hv, results[0][2])


@pytest.mark.parametrize("layout", ["dense", "csr"])
def test_feature_moments_are_weighted_column_moments(layout):
    X, y, sw = _problem(seed=15, layout=layout)
    obj = _objective(X, y, sw, n_threads=2, rows=23)
    with obj.running():
        mean, mean_sq = obj.feature_moments()
    Xd = X.toarray() if sp.issparse(X) else X
    assert_allclose(mean, np.average(Xd, axis=0, weights=sw), rtol=1e-12)
    assert_allclose(mean_sq, np.average(Xd**2, axis=0, weights=sw), rtol=1e-12)


class _Spy(Softmax):
    """Softmax that records what the objective hands it."""

    def loss_gradient(self, Y, Z):
        self.seen = (*getattr(self, "seen", ()), (Z.dtype, Z.shape[0]))
        return super().loss_gradient(Y, Z)


def test_float32_stays_float32_and_x_is_not_copied():
    X, y, sw = _problem(seed=16, dtype=np.float32)
    spy = _Spy()
    obj = LinearObjective(X, y, K, spy, sw, 1.0, True, block_rows=50)
    obj.loss_gradient(_params(17))
    assert {dtype for dtype, _ in spy.seen} == {np.dtype(np.float32)}
    assert sorted(rows for _, rows in spy.seen) == [11, 50, 50, 50, 50]
    assert obj.X is X
    assert all(np.shares_memory(block, X) for block in obj.rows.blocks)


def test_memory_estimate_counts_chunk_buffers():
    X, y, sw = _problem(seed=18)
    one = _objective(X, y, sw, n_threads=1, rows=10).memory_estimate()
    four = _objective(X, y, sw, n_threads=4, rows=10).memory_estimate()
    assert 0 < one < four


def test_map_score_blocks_applies_temperature_and_keeps_rows():
    X, _y, _sw = _problem(seed=19)
    Wt = np.random.default_rng(20).normal(size=(P, K))
    b = np.arange(K, dtype=float)
    out = map_score_blocks(X, Wt, b, Softmax(), BlockRunner(1), 0.5, block_rows=13)
    Z = (X @ Wt + b) * 0.5
    expected = np.exp(Z - Z.max(axis=1, keepdims=True))
    assert_allclose(out, expected / expected.sum(axis=1, keepdims=True), rtol=1e-12)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("layout", ["dense", "csr"])
def test_map_score_blocks_detects_non_finite_input(bad, layout):
    X, _, _ = _problem(seed=21)
    X[150, 2] = bad
    Xin = sp.csr_matrix(X) if layout == "csr" else X
    Wt = np.zeros((P, K))  # inf * 0 is NaN: even a zero weight reveals it
    runner = BlockRunner(2)
    with runner.running(), pytest.raises(ValueError, match="Input X contains"):
        map_score_blocks(Xin, Wt, None, Softmax(), runner, 1.0, 13, check_finite=True)
    # Without the check, the scores simply carry the NaN.
    with np.errstate(invalid="ignore"):
        out = map_score_blocks(Xin, Wt, None, lambda Z: Z, runner, 1.0, 13)
    assert np.isnan(out[150]).all()
    assert np.isfinite(np.delete(out, 150, axis=0)).all()


def test_overflowing_scores_of_finite_input_are_not_an_error():
    X = np.full((20, P), 1e300)
    with (
        np.errstate(over="ignore"),
        pytest.warns(RuntimeWarning, match="overflow to infinity"),
    ):
        out = map_score_blocks(
            X, np.full((P, K), 1e10), None, lambda Z: Z, block_rows=7, check_finite=True
        )
    assert np.isinf(out).all()


def _two_class_objectives(normalizer, dtype, layout, weights, soft, n_threads=1):
    """The same two-class objective, with one score column and with two."""
    X, y, sw = _problem(seed=11, dtype=dtype, layout=layout, weights=weights)
    y = y % 2
    if soft:
        p1 = np.random.default_rng(12).uniform(size=N)
        y = np.column_stack([1 - p1, p1]).astype(dtype)
    objectives = []
    for pair in (True, False):
        obj = LinearObjective(
            X, y, 2, normalizer, sw, C=0.7, fit_intercept=True, temperature=0.9,
            runner=BlockRunner(n_threads), block_rows=53,
        )  # fmt: skip
        assert obj.kernel.pair
        obj.kernel.pair = pair
        objectives.append(obj)
    return objectives


@pytest.mark.parametrize("normalizer", ["softmax", "sparsemax", "entmax15"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("layout", ["dense", "csr"])
@pytest.mark.parametrize(("weights", "soft"), [("random", False), ("equal", True)])
def test_two_class_passes_take_one_score_column(
    normalizer, dtype, layout, weights, soft
):
    # A shift-invariant loss depends on the scores' difference alone: one
    # column (and one product each way) gives the loss, gradient and Hessian
    # products of the two-column pass at any parameters, summing to zero
    # over the pair or not. Tolerances: the two differ by the rounding of
    # the scores (eps of X's dtype times their size, about 10 here).
    from softreg.normalizers._registry import resolve_normalizer

    pair, full = _two_class_objectives(
        resolve_normalizer(normalizer), dtype, layout, weights, soft, n_threads=2
    )
    rng = np.random.default_rng(13)
    w, v = rng.normal(size=(2, (P + 1) * 2))
    eps = float(np.finfo(dtype).eps) * 100
    with pair.running(), full.running():
        f_pair, g_pair = pair.loss_gradient(w)
        f_full, g_full = full.loss_gradient(w)
        h_pair, h_full = pair.hessp(w, v), full.hessp(w, v)
    assert f_pair == pytest.approx(f_full, rel=eps)
    assert_allclose(g_pair, g_full, rtol=0, atol=eps * np.abs(g_full).max())
    assert_allclose(h_pair, h_full, rtol=0, atol=eps * np.abs(h_full).max())
    # The data parts of the two classes' gradients are each other's negatives.
    Wt = w.reshape(P + 1, 2)[:P]
    data = g_pair.reshape(P + 1, 2) - np.vstack([Wt * pair.l2, np.zeros((1, 2))])
    assert_allclose(data[:, 0], -data[:, 1], rtol=1e-12, atol=1e-15)


def test_two_class_pass_is_one_column_only_for_shift_invariant_losses():
    from softreg.normalizers import Spherical, Taylor

    X, y, sw = _problem(seed=14)
    for normalizer, pair in [
        (Softmax(), True),
        (Taylor(), False),
        (Spherical(), False),
    ]:
        obj = LinearObjective(X, y % 2, 2, normalizer, sw, C=1.0, fit_intercept=True)
        assert obj.kernel.pair is pair
    obj = LinearObjective(X, y, K, Softmax(), sw, C=1.0, fit_intercept=True)
    assert not obj.kernel.pair


def test_two_class_hessp_matches_finite_differences():
    pair, _ = _two_class_objectives(Softmax(), np.float64, "dense", "random", False)
    rng = np.random.default_rng(15)
    w, v = rng.normal(size=(2, (P + 1) * 2))
    step = 1e-5
    fd = (pair.loss_gradient(w + step * v)[1] - pair.loss_gradient(w - step * v)[1]) / (
        2 * step
    )
    assert_allclose(pair.hessp(w, v), fd, rtol=1e-6, atol=1e-8 * np.abs(fd).max())
