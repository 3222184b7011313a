"""Tests of the built-in normalizers and of check_normalizer.

References are independent of the code under test: the design brief's test
vectors, closed forms, bisection on the threshold, finite differences, and
(when installed) the ``entmax`` package.
"""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import logsumexp
from sklearn.base import clone

from softreg import SoftmaxRegression
from softreg.normalizers import (
    Entmax15,
    Normalizer,
    NormalizerReport,
    Softmax,
    Sparsemax,
    Spherical,
    Standard,
    Taylor,
    check_normalizer,
)
from softreg.normalizers._registry import NORMALIZERS, resolve_normalizer

ALL = [Softmax(), Taylor(), Spherical(), Sparsemax(), Entmax15(), Standard()]
IDS = [type(n).__name__ for n in ALL]
SHIFT_INVARIANT = (Softmax, Sparsemax, Entmax15)
MONOTONE = (Softmax, Sparsemax, Entmax15)
#: Normalizers whose hessp depends on the targets (log-losses of
#: non-exponential families).
NEEDS_Y = (Taylor, Spherical, Standard)

all_normalizers = pytest.mark.parametrize("normalizer", ALL, ids=IDS)


def random_scores(n=20, k=5, scale=2.0, seed=0):
    return np.random.default_rng(seed).normal(scale=scale, size=(n, k))


def random_targets(n, k, kind, seed=1):
    rng = np.random.default_rng(seed)
    if kind == "one-hot":
        return np.eye(k)[rng.integers(k, size=n)]
    return rng.dirichlet(np.ones(k), size=n)


def hessp(normalizer, Z, V, Y):
    if isinstance(normalizer, (*NEEDS_Y, Sparsemax, Entmax15)):
        return normalizer.hessp(Z, V, Y=Y)
    return normalizer.hessp(Z, V)


# --------------------------------------------------------------------------
# Reference values


def test_design_test_vectors():
    z = np.array([[-2.0, 0.0, 0.5]])
    assert_allclose(Sparsemax()(z), [[0, 0.25, 0.75]], atol=1e-12)
    assert_allclose(Entmax15()(z), [[0, 0.3260, 0.6740]], atol=1e-4)
    assert_allclose(
        Softmax()(np.array([[1.0, 2, 3]])), [[0.090, 0.245, 0.665]], atol=1e-3
    )
    assert_allclose(Softmax()(np.array([[1.0, 2]])), [[0.2689, 0.7311]], atol=1e-4)
    assert_allclose(Softmax()(np.array([[10.0, 20]])), [[4.54e-5, 0.99995]], rtol=1e-3)
    _, grad = Softmax().loss_gradient(np.array([[0.0, 1, 0]]), np.array([[2.0, 3, 4]]))
    # Seed 003 (and the design brief) print (0.0903, -0.7553, 0.665): a slip
    # in the seed's rounding; e^2 / (e^2 + e^3 + e^4) is 0.09003.
    assert_allclose(grad, [[0.0903, -0.7553, 0.665]], atol=3e-4)
    assert_allclose(grad, [[0.0900, -0.7553, 0.6652]], atol=1e-4)
    assert_allclose(Taylor()(np.array([[-5.0, 0]])), [[0.895, 0.105]], atol=1e-3)


def test_taylor_closed_form():
    z = random_scores(seed=3)
    g = 1 + z + z**2 / 2
    assert_allclose(Taylor()(z), g / g.sum(axis=1, keepdims=True), rtol=1e-12)


@pytest.mark.parametrize("eps", [1e-3, 0.1, 2.0])
def test_spherical_closed_form(eps):
    z = random_scores(seed=4)
    q = z**2 + eps
    assert_allclose(Spherical(eps=eps)(z), q / q.sum(axis=1, keepdims=True), rtol=1e-12)


def test_sparsemax_two_classes_closed_form():
    z = random_scores(n=200, k=2, scale=1.5, seed=5)
    p1 = np.clip((z[:, 1] - z[:, 0] + 1) / 2, 0, 1)
    assert_allclose(Sparsemax()(z), np.c_[1 - p1, p1], atol=1e-12)


def threshold_by_bisection(z, mass, lo, hi, n_iter=200):
    """tau with mass(z, tau) = 1 for a decreasing ``mass``, by bisection."""
    for _ in range(n_iter):
        mid = (lo + hi) / 2
        too_much = mass(z, mid) > 1
        lo = np.where(too_much, mid, lo)
        hi = np.where(too_much, hi, mid)
    return (lo + hi) / 2


@pytest.mark.parametrize("k", [2, 3, 7, 30])
def test_sparsemax_matches_bisection(k):
    z = random_scores(n=50, k=k, seed=k)
    zmax = z.max(axis=1, keepdims=True)
    tau = threshold_by_bisection(
        z, lambda z, t: np.maximum(z - t, 0).sum(axis=1, keepdims=True), zmax - 1, zmax
    )
    assert_allclose(Sparsemax()(z), np.maximum(z - tau, 0), atol=1e-12)


@pytest.mark.parametrize("k", [2, 3, 7, 30])
def test_entmax15_matches_bisection(k):
    z = random_scores(n=50, k=k, seed=k)
    half_max = z.max(axis=1, keepdims=True) / 2
    tau = threshold_by_bisection(
        z,
        lambda z, t: (np.maximum(z / 2 - t, 0) ** 2).sum(axis=1, keepdims=True),
        half_max - 1,
        half_max,
    )
    assert_allclose(Entmax15()(z), np.maximum(z / 2 - tau, 0) ** 2, atol=1e-12)


def test_sparse_maps_give_exact_zeros():
    z = np.array([[-3.0, 0.0, 1.0, 1.2], [5.0, 0.0, 0.0, 0.0]])
    for normalizer in (Sparsemax(), Entmax15()):
        P = normalizer(z)
        assert P[0, 0] == 0
        assert_array_equal(P[1], [1, 0, 0, 0])


def test_entmax_package_oracle():
    pytest.importorskip("torch")
    entmax = pytest.importorskip("entmax")
    import torch

    z = random_scores(n=40, k=6, seed=7)
    y = np.random.default_rng(8).integers(6, size=40)
    Y = np.eye(6)[y]
    V = random_scores(n=40, k=6, seed=9)
    for ours, theirs, loss_fn in [
        (Sparsemax(), entmax.sparsemax, entmax.sparsemax_loss),
        (Entmax15(), entmax.entmax15, entmax.entmax15_loss),
    ]:
        X = torch.tensor(z, requires_grad=True)
        assert_allclose(ours(z), theirs(X, dim=-1).detach().numpy(), atol=1e-12)
        loss_t = loss_fn(X, torch.tensor(y))
        (grad_t,) = torch.autograd.grad(loss_t.sum(), X)
        loss, grad = ours.loss_gradient(Y, z)
        assert_allclose(loss, loss_t.detach().numpy(), atol=1e-12)
        assert_allclose(grad, grad_t.numpy(), atol=1e-12)
        _, jv = torch.autograd.functional.jvp(
            lambda x, f=theirs: f(x, dim=-1), torch.tensor(z), torch.tensor(V)
        )
        assert_allclose(ours.hessp(z, V), jv.numpy(), atol=1e-12)


# --------------------------------------------------------------------------
# Losses


@pytest.mark.parametrize(
    "normalizer", [Sparsemax(), Entmax15()], ids=["sparsemax", "entmax15"]
)
def test_fenchel_young_loss_zero_at_target_and_nonnegative(normalizer):
    z = random_scores(n=100, k=5, seed=10)
    # Soft targets equal to the prediction: the loss is exactly minimal (0).
    loss, grad = normalizer.loss_gradient(normalizer(z), z)
    assert_allclose(loss, 0, atol=1e-12)
    assert_allclose(grad, 0, atol=1e-12)
    # One-hot prediction and target: scores with a dominant class.
    z_sure = np.array([[10.0, 0.0, -1.0], [0.0, 7.0, 4.9]])
    loss, _ = normalizer.loss_gradient(np.array([[1.0, 0, 0], [0, 1, 0]]), z_sure)
    assert_allclose(loss, 0, atol=1e-12)
    for kind in ("one-hot", "soft"):
        loss, _ = normalizer.loss_gradient(random_targets(100, 5, kind), z)
        assert np.all(loss >= -1e-12)


def test_fenchel_young_one_hot_matches_published_formulas():
    z = random_scores(n=30, k=4, seed=11)
    y = np.random.default_rng(12).integers(4, size=30)
    Y = np.eye(4)[y]
    zy = z[np.arange(30), y]
    P = Sparsemax()(z)
    expected = 0.5 * (1 - (P**2).sum(1)) + (P * z).sum(1) - zy
    assert_allclose(Sparsemax().loss_gradient(Y, z)[0], expected, atol=1e-12)
    P = Entmax15()(z)
    expected = (1 - (P**1.5).sum(1)) / 0.75 + (P * z).sum(1) - zy
    assert_allclose(Entmax15().loss_gradient(Y, z)[0], expected, atol=1e-12)


@pytest.mark.parametrize(
    "normalizer", [Softmax(), Taylor(), Spherical(), Standard()], ids=str
)
@pytest.mark.parametrize("kind", ["one-hot", "soft"])
def test_log_losses_are_cross_entropy(normalizer, kind):
    z = random_scores(seed=13)
    Y = random_targets(*z.shape, kind)
    loss, _ = normalizer.loss_gradient(Y, z)
    assert_allclose(loss, -(Y * np.log(normalizer(z))).sum(axis=1), rtol=1e-12)


def finite_difference_gradient(normalizer, Y, Z, h=1e-6):
    fd = np.empty_like(Z)
    for k in range(Z.shape[1]):
        E = np.zeros_like(Z)
        E[:, k] = h
        fd[:, k] = (
            normalizer.loss_gradient(Y, Z + E)[0]
            - normalizer.loss_gradient(Y, Z - E)[0]
        ) / (2 * h)
    return fd


@all_normalizers
@pytest.mark.parametrize("kind", ["one-hot", "soft"])
@pytest.mark.parametrize("k", [2, 3, 6])
def test_gradient_matches_finite_differences(normalizer, kind, k):
    Z = random_scores(n=15, k=k, seed=14)
    Y = random_targets(15, k, kind)
    _, grad = normalizer.loss_gradient(Y, Z)
    assert_allclose(grad, finite_difference_gradient(normalizer, Y, Z), atol=1e-6)


@all_normalizers
@pytest.mark.parametrize("kind", ["one-hot", "soft"])
@pytest.mark.parametrize("k", [2, 3, 6])
def test_hessp_matches_finite_differences(normalizer, kind, k):
    Z = random_scores(n=15, k=k, seed=15)
    Y = random_targets(15, k, kind)
    V = random_scores(n=15, k=k, scale=1.0, seed=16)
    h = 1e-6
    fd = (
        normalizer.loss_gradient(Y, Z + h * V)[1]
        - normalizer.loss_gradient(Y, Z - h * V)[1]
    ) / (2 * h)
    # Central differences of a gradient of size g carry a rounding error of
    # about eps * g / h.
    scale = 1 + np.abs(normalizer.loss_gradient(Y, Z)[1]).max()
    assert_allclose(hessp(normalizer, Z, V, Y), fd, rtol=1e-6, atol=1e-6 * scale)


@pytest.mark.parametrize("normalizer", [Taylor(), Spherical(), Standard()], ids=str)
def test_hessp_needs_targets_when_the_hessian_depends_on_them(normalizer):
    Z = random_scores()
    with pytest.raises(ValueError, match="needs the targets Y"):
        normalizer.hessp(Z, Z)


# --------------------------------------------------------------------------
# Numerics


@all_normalizers
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rows_on_the_simplex(normalizer, dtype):
    P = normalizer(random_scores(n=200, k=7, scale=3.0, seed=17).astype(dtype))
    assert P.dtype == dtype
    assert np.all(P >= 0)
    assert_allclose(P.sum(axis=1), 1, rtol=10 * np.finfo(dtype).eps)


@all_normalizers
def test_float32_in_float32_out(normalizer):
    Z = random_scores(seed=18)
    Y = random_targets(*Z.shape, "soft")
    Z32, Y32 = Z.astype(np.float32), Y.astype(np.float32)
    loss, grad = normalizer.loss_gradient(Y32, Z32)
    outputs = {
        "proba": normalizer(Z32),
        "log_proba": normalizer.log_proba(Z32),
        "decision": normalizer.decision(Z32),
        "loss": loss,
        "grad": grad,
        "hessp": hessp(normalizer, Z32, Z32, Y32),
    }
    for name, out in outputs.items():
        assert out.dtype == np.float32, name
    # float32 results agree with float64 to float32 accuracy.
    assert_allclose(outputs["proba"], normalizer(Z), atol=1e-6)
    assert_allclose(grad, normalizer.loss_gradient(Y, Z)[1], atol=1e-5)
    # float64 targets with float32 scores still give float32.
    assert normalizer.loss_gradient(Y, Z32)[1].dtype == np.float32


@all_normalizers
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_large_scores_are_stable(normalizer, dtype):
    Z = (random_scores(n=30, k=4, seed=19) * 1e4).astype(dtype)
    Z[0] = [1e4, -1e4, 0, 1e4]
    Z[1] = [-1e4, -1e4, -1e4, -1e4]
    Y = random_targets(30, 4, "one-hot")
    # Underflow to zero is expected (exp of -1e4); the rest must not happen.
    with (
        np.errstate(over="raise", divide="raise", invalid="raise"),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("error")
        P = normalizer(Z)
        loss, grad = normalizer.loss_gradient(Y, Z)
        HV = hessp(normalizer, Z, np.ones_like(Z), Y)
        D = normalizer.decision(Z)
    for arr in (P, loss, grad, HV):
        assert np.all(np.isfinite(arr))
    assert not np.any(np.isnan(D))
    assert_allclose(P.sum(axis=1), 1, rtol=1e-5)


@pytest.mark.parametrize(
    "normalizer", [Taylor(), Spherical()], ids=["taylor", "spherical"]
)
def test_quadratic_normalizers_survive_scores_whose_squares_overflow(normalizer):
    Z = np.array([[1e200, 0.0, -3e199], [1e-200, 0.0, 1.0]])
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        P = normalizer(Z)
        loss, grad = normalizer.loss_gradient(np.eye(3)[:2], Z)
    assert_allclose(P[0], [1 / 1.09, 0, 0.09 / 1.09], rtol=1e-12)
    assert np.all(np.isfinite(loss))
    assert np.all(np.isfinite(grad))


@all_normalizers
def test_rows_are_independent(normalizer):
    Z = random_scores(n=12, seed=20)
    P = normalizer(Z)
    assert_allclose(normalizer(Z[5:7]), P[5:7], rtol=1e-14)
    assert_allclose(normalizer(Z[::-1]), P[::-1], rtol=1e-14)


@all_normalizers
def test_integer_scores_become_float64(normalizer):
    P = normalizer(np.array([[1, 2, 3]]))
    assert P.dtype == np.float64
    assert_allclose(P, normalizer(np.array([[1.0, 2.0, 3.0]])))


@pytest.mark.parametrize("normalizer", ALL[1:], ids=IDS[1:])
def test_scores_must_be_2d(normalizer):
    with pytest.raises(ValueError, match="2-D"):
        normalizer(np.array([1.0, 2.0]))


# --------------------------------------------------------------------------
# Declared properties


@all_normalizers
def test_shift_invariance_as_declared(normalizer):
    Z = random_scores(seed=21)
    c = np.random.default_rng(22).uniform(-10, 10, size=(Z.shape[0], 1))
    invariant = np.allclose(normalizer(Z + c), normalizer(Z), rtol=1e-9, atol=1e-12)
    assert invariant == isinstance(normalizer, SHIFT_INVARIANT)
    assert normalizer.shift_invariant == isinstance(normalizer, SHIFT_INVARIANT)


def test_base_class_is_not_shift_invariant_by_default():
    assert Normalizer.shift_invariant is False
    assert Softmax.shift_invariant is True


@all_normalizers
def test_decision_orders_like_the_probabilities(normalizer):
    Z = random_scores(n=50, seed=23)
    P, D = normalizer(Z), normalizer.decision(Z)
    if isinstance(normalizer, MONOTONE):
        assert D is Z
    else:
        assert_allclose(D, np.log(P), rtol=1e-10)
    higher = P[:, :, None] > P[:, None, :] + 1e-12
    assert np.all(D[:, :, None] > D[:, None, :], where=higher)


def test_taylor_is_not_monotone_and_not_convex():
    P = Taylor()(np.array([[-5.0, 0.0]]))
    assert P[0, 0] > P[0, 1]
    assert Taylor.convex is False
    # The zero start is not stationary, so Taylor starts there.
    _, grad = Taylor().loss_gradient(np.eye(3), np.zeros((3, 3)))
    assert_allclose(grad, 1 / 3 - np.eye(3))
    assert Taylor().init_scale() == 0


def test_spherical_is_sign_blind_and_needs_a_random_start():
    Z = random_scores(seed=24)
    assert_allclose(Spherical()(Z), Spherical()(-Z))
    assert_allclose(Spherical()(Z), Spherical()(np.abs(Z)))
    _, grad = Spherical().loss_gradient(np.eye(4), np.zeros((4, 4)))
    assert_array_equal(grad, 0)
    assert Spherical.convex is False
    assert Spherical(eps=0.1).init_scale() == pytest.approx(0.1 * 0.1**0.5)
    assert Spherical(eps=4.0).init_scale() == pytest.approx(0.2)


def test_spherical_eps_is_a_hyperparameter():
    assert Spherical().eps == 0.1
    clf = SoftmaxRegression(normalizer=Spherical(eps=0.5))
    assert clf.get_params()["normalizer__eps"] == 0.5
    clf.set_params(normalizer__eps=2.0)
    assert clf.normalizer.eps == 2.0
    assert clone(Spherical(eps=3.0)).eps == 3.0
    # eps is a re-scaling of the scores: p(z; eps) = p(z / s; eps / s^2).
    Z = random_scores(seed=25)
    assert_allclose(Spherical(eps=0.1)(Z), Spherical(eps=0.1 / 9)(Z / 3))


@pytest.mark.parametrize(
    ("normalizer", "match"),
    [
        (Spherical(eps=0), "eps must be a positive"),
        (Spherical(eps=-1.0), "eps must be a positive"),
        (Spherical(eps="a"), "eps must be a positive"),
        (Standard(floor=0), "floor must be a positive"),
        (Standard(floor=np.inf), "floor must be a positive"),
        (Standard(eps=0), "eps must be a positive"),
        (Standard(eps=-1.0), "eps must be a positive"),
        (Standard(eps="a"), "eps must be a positive"),
    ],
    ids=str,
)
def test_invalid_hyperparameters_are_rejected_on_use(normalizer, match):
    with pytest.raises(ValueError, match=match):
        normalizer(random_scores())


# --------------------------------------------------------------------------
# Standard normalization


def standard_closed_form(Z, floor=0.01, eps=0.1):
    """The documented rule, written out independently of the class."""
    rho = np.sqrt((Z**2).sum(axis=1, keepdims=True) + eps**2)
    # eps log(1 + exp(floor rho / eps) sum_k exp(-z_k / eps)), in logs.
    c = eps * np.logaddexp(
        0, floor * rho / eps + logsumexp(-Z / eps, axis=1, keepdims=True)
    )
    q = Z + c + eps
    return q / q.sum(axis=1, keepdims=True), c


def standard_hard_limit(Z, floor=0.01):
    """The eps -> 0 (or scores -> infinity) limit: scale invariant."""
    norm = np.sqrt((Z**2).sum(axis=1, keepdims=True))
    q = Z + np.maximum(0, floor * norm - Z.min(axis=1, keepdims=True))
    return q / q.sum(axis=1, keepdims=True)


@pytest.mark.parametrize(("floor", "eps"), [(0.01, 0.1), (0.2, 0.5), (0.01, 2.0)])
def test_standard_closed_form(floor, eps):
    Z = random_scores(seed=26)
    expected, _ = standard_closed_form(Z, floor, eps)
    assert_allclose(Standard(floor=floor, eps=eps)(Z), expected, rtol=1e-12)


def test_standard_reproduces_the_seed_examples():
    P = Standard()(np.array([[1.0, 2.0], [10.0, 20.0]]))
    # Nearly standard normalization: both rows about (1/3, 2/3), no longer
    # exactly; eps is added to every score, and the shift is below 1e-5.
    assert P[0] == pytest.approx([1.1 / 3.2, 2.1 / 3.2], rel=1e-5)
    assert P[1] == pytest.approx([10.1 / 30.2, 20.1 / 30.2], rel=1e-12)
    assert P.ravel() == pytest.approx([1 / 3, 2 / 3] * 2, abs=0.011)
    # Sums to zero: finite, positive, and close to the hard rule, which
    # lifts the minimum to floor * ||z|| = 0.01 * sqrt(10).
    z = np.array([[-2.0, -1.0, 1.0, 2.0]])
    P = Standard()(z)
    assert np.all(np.isfinite(P))
    assert np.all(P > 0)
    assert P.ravel() == pytest.approx([0.0154, 0.1327, 0.3673, 0.4846], abs=5e-5)
    hard = z + 2 + 0.01 * np.sqrt(10)
    # Off by floor * (rho - ||z||) = 1.6e-4 in the shift, rho including eps.
    assert_allclose(P, (hard + 0.1) / (hard + 0.1).sum(), rtol=2e-4)


def test_standard_shift_is_the_hard_shift_smoothed():
    # max(0, floor ||z|| - min z) <= c <= that + eps (log 2K + floor).
    floor, eps = 0.01, 0.1
    for scale in (1e-3, 0.1, 1.0, 100.0):
        Z = random_scores(n=200, k=5, scale=scale, seed=27)
        _, c = standard_closed_form(Z, floor, eps)
        norm = np.sqrt((Z**2).sum(axis=1, keepdims=True))
        hard = np.maximum(0, floor * norm - Z.min(axis=1, keepdims=True))
        assert np.all(c >= hard)
        assert np.all(c <= hard + eps * (np.log(2 * 5) + floor))


def test_standard_positive_rows_are_divided_after_adding_eps():
    # Scores far above the floor: the shift is below 1e-40.
    Z = np.random.default_rng(28).uniform(10, 20, size=(50, 4))
    expected = (Z + 0.1) / (Z + 0.1).sum(axis=1, keepdims=True)
    assert_allclose(Standard()(Z), expected, rtol=1e-14)


def test_standard_tends_to_scale_invariance_and_to_uniform():
    lams = np.logspace(-6, 6, 121)
    rows = [[-5.0, 0.5, 2.0, 1.0], [1.0, 2.0], [-2.0, -1.0, 1.0, 2.0]]
    rows += list(random_scores(n=5, k=3, seed=29))
    for z in rows:
        z = np.atleast_2d(z)
        P = np.vstack([Standard()(lam * z) for lam in lams])
        to_limit = np.abs(P - standard_hard_limit(z)).max(axis=1)
        to_uniform = np.abs(P - 1 / z.shape[1]).max(axis=1)
        # Monotone on the way: larger scores, closer to the scale-invariant
        # limit and further from uniform.
        assert np.all(np.diff(to_limit) <= 1e-15)
        assert np.all(np.diff(to_uniform) >= -1e-15)
        assert to_limit[-1] < 1e-6
        assert to_uniform[0] < 1e-5
    # Softmax becomes confident as the scores grow; standard stays put.
    z = np.array([[1.0, 2.0]])
    assert Softmax()(10 * z)[0, 1] > 0.9999
    assert Standard()(10 * z)[0, 1] == pytest.approx(2 / 3, abs=0.002)
    assert Standard()(1e6 * z)[0, 1] == pytest.approx(2 / 3, rel=1e-6)


def test_standard_eps_is_a_hyperparameter_and_a_temperature():
    assert Standard().eps == 0.1
    clf = SoftmaxRegression(normalizer=Standard(eps=0.5))
    assert clf.get_params()["normalizer__eps"] == 0.5
    clf.set_params(normalizer__eps=2.0)
    assert clf.normalizer.eps == 2.0
    assert clone(Standard(eps=3.0, floor=0.2)).get_params() == {
        "eps": 3.0,
        "floor": 0.2,
    }
    # p(z / T; eps) = p(z; eps T).
    Z = random_scores(seed=30)
    for T in (0.01, 3.0, 1e3):
        assert_allclose(Standard(eps=0.1)(Z / T), Standard(eps=0.1 * T)(Z), rtol=1e-12)


def former_kinks():
    """Rows on the folds of the hard rule, where a fit comes to rest."""
    return np.array(
        [
            [0.0, 0.0, 0.0],  # z = 0
            [2.0, -1.0, -1.0],  # the wrong classes tie for the minimum
            [2.0, 0.01 * np.sqrt(5.0), 1.0],  # minimum on the hard floor
            [2.0, -2.0, 0.5],  # |max| = |min|
            [-1.5, -1.5, -1.5],  # constant and negative
        ]
    )


@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e3])
def test_standard_gradient_and_hessp_are_exact_where_the_hard_rule_folds(scale):
    Z = scale * former_kinks()
    Y = np.eye(3)[[0, 0, 0, 0, 1]]
    V = random_scores(n=5, k=3, scale=1.0, seed=31)
    # A step relative to each row's size, and to eps at z = 0.
    h = 1e-6 * np.maximum(np.abs(Z).max(axis=1), 0.1)
    _, grad = Standard().loss_gradient(Y, Z)
    fd = finite_difference_gradient(Standard(), Y, Z, h=h)
    assert_allclose(grad, fd, rtol=1e-6, atol=1e-7 * np.abs(grad).max())
    h = h[:, None]
    fd = (
        Standard().loss_gradient(Y, Z + h * V)[1]
        - Standard().loss_gradient(Y, Z - h * V)[1]
    ) / (2 * h)
    HV = Standard().hessp(Z, V, Y=Y)
    assert_allclose(HV, fd, rtol=1e-5, atol=1e-6 * np.abs(HV).max())


def test_standard_gradient_is_continuous_across_the_former_kinks():
    Z = former_kinks()
    Y = np.eye(3)[[0, 0, 0, 0, 1]]
    E = 1e-7 * random_scores(n=5, k=3, scale=1.0, seed=32)
    _, grad = Standard().loss_gradient(Y, Z)
    for sign in (1, -1):
        assert_allclose(Standard().loss_gradient(Y, Z + sign * E)[1], grad, atol=1e-5)


def test_standard_two_classes_is_not_flat_where_shifted():
    # A floor relative to the range would make every shifted binary row give
    # the same probabilities, with zero gradient: a fit could not move.
    Z = np.array([[-1.0, 2.0], [-0.5, 2.0], [-3.0, -1.0]])
    P = Standard()(Z)
    assert len(np.unique(P[:, 1].round(12))) == 3
    _, grad = Standard().loss_gradient(np.array([[1.0, 0.0]] * 3), Z)
    assert np.all(np.abs(grad).max(axis=1) > 1e-3)


@pytest.mark.parametrize("eps", [1e-3, 0.1, 10.0])
def test_standard_probabilities_are_bounded_below(eps):
    Z = random_scores(n=500, k=6, scale=5.0, seed=33)
    floor = 0.01
    assert Standard(floor=floor, eps=eps)(Z).min() >= floor / (6 * (2 + floor))


def test_standard_constant_rows_are_uniform_and_zero_is_not_stationary():
    Z = np.array([[0.0, 0.0, 0.0], [-2.0, -2.0, -2.0], [3.0, 3.0, 3.0]])
    assert_allclose(Standard()(Z), 1 / 3)
    loss, grad = Standard().loss_gradient(np.eye(3), Z)
    assert_allclose(loss, np.log(3))
    # At z = 0, q = eps (1 + log(1 + K e^floor)) and the gradient is the
    # softmax's, 1/K - y, over q: a fit started at zero moves.
    q0 = 0.1 * (1 + np.log(1 + 3 * np.exp(0.01)))
    assert_allclose(grad[0], (1 / 3 - np.eye(3)[0]) / q0, rtol=1e-12)
    assert Standard().init_scale() == 0
    assert np.all(np.isfinite(Standard().hessp(Z, np.ones_like(Z), Y=np.eye(3))))


def test_standard_large_scores_keep_the_small_probabilities_accurate():
    # The smallest q is summed from positive terms, not taken as z_min + c,
    # so float32 keeps it to float32 accuracy even next to scores of 1e4.
    Z = np.array([[1e4, -1e4, 0.0, 1e4], [-1e4, -1e4, 3e3, 1e4]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        P64 = Standard()(Z)
        P32 = Standard()(Z.astype(np.float32))
    assert P32.dtype == np.float32
    assert_allclose(P32, P64, rtol=1e-5)
    assert_allclose(P64, standard_hard_limit(Z), rtol=1e-3)


def test_standard_fits_converge_from_a_deterministic_start():
    from sklearn.datasets import load_iris
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.preprocessing import StandardScaler

    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        fits = [
            SoftmaxRegression(normalizer="standard", random_state=seed).fit(X, y)
            for seed in (0, 1)
        ]
    assert fits[0].n_iter_ < fits[0].max_iter
    assert_array_equal(fits[0].coef_, fits[1].coef_)
    # Flat probabilities, as the baseline should have.
    assert fits[0].predict_proba(X).max(axis=1).mean() < 0.8


def test_standard_passes_check_normalizer_with_a_zero_start():
    report = check_normalizer(Standard())
    assert report.init_scale == 0.0
    assert not report.convex
    assert report.notes == ()


# --------------------------------------------------------------------------
# Temperature limits documented in the docstrings


def temperature(normalizer, z, T):
    return normalizer(z / T)


def test_temperature_limits():
    z = np.array([[-5.0, 0.5, 2.0, 1.0]])
    squares = z**2 / (z**2).sum()
    uniform = np.full_like(z, 0.25)
    onehot = np.array([[0.0, 0.0, 1.0, 0.0]])
    # T -> 0: argmax for softmax and the sparse maps, z^2/||z||^2 for the
    # quadratic ones, the scale-invariant hard rule for standard normalization.
    assert_allclose(temperature(Softmax(), z, 1e-2), onehot, atol=1e-12)
    assert_array_equal(temperature(Sparsemax(), z, 0.5), onehot)
    assert_array_equal(temperature(Entmax15(), z, 0.5), onehot)
    assert_allclose(temperature(Taylor(), z, 1e-4), squares, atol=1e-4)
    assert_allclose(temperature(Spherical(), z, 1e-4), squares, atol=1e-6)
    assert_allclose(temperature(Standard(), z, 1e-6), standard_hard_limit(z), atol=1e-6)
    # T -> inf: uniform.
    for normalizer in ALL:
        assert_allclose(temperature(normalizer, z, 1e6), uniform, atol=1e-5)
    # Spherical: a temperature is a change of eps.
    assert_allclose(temperature(Spherical(eps=0.1), z, 3.0), Spherical(eps=0.9)(z))


# --------------------------------------------------------------------------
# Registry


def test_registry_names():
    expected = {
        "softmax": Softmax,
        "taylor": Taylor,
        "spherical": Spherical,
        "sparsemax": Sparsemax,
        "entmax15": Entmax15,
        "standard": Standard,
    }
    assert expected == NORMALIZERS
    for name, cls in NORMALIZERS.items():
        assert type(resolve_normalizer(name)) is cls
    with pytest.raises(ValueError, match="'entmax15'"):
        resolve_normalizer("entmax")


# --------------------------------------------------------------------------
# check_normalizer


@all_normalizers
def test_check_normalizer_passes_every_builtin(normalizer):
    report = check_normalizer(normalizer)
    assert isinstance(report, NormalizerReport)
    assert report.has_hessp
    assert report.shift_invariant == report.shift_invariant_observed
    assert report.shift_invariant == isinstance(normalizer, SHIFT_INVARIANT)
    assert report.max_gradient_error < 1e-7
    assert report.max_hessp_error < 1e-7
    assert report.notes == ()


class PowerRatio(Normalizer):
    """A user's normalizer: p ∝ softplus(z)^2, with its log-loss."""

    convex = False

    def __init__(self, power=2.0):
        self.power = power

    def _q(self, Z):
        return np.logaddexp(0, Z) ** self.power

    def __call__(self, Z):
        Q = self._q(Z)
        return Q / Q.sum(axis=1, keepdims=True)

    def loss_gradient(self, Y, Z):
        sp = np.logaddexp(0, Z)
        Q = sp**self.power
        S = Q.sum(axis=1, keepdims=True)
        dQ = self.power * sp ** (self.power - 1) / (1 + np.exp(-Z))
        loss = np.log(S[:, 0]) - (Y * np.log(Q)).sum(axis=1)
        return loss, dQ / S - Y * dQ / Q


class DuckSoftmax:
    """Duck-typed: not a Normalizer subclass, only the required methods."""

    shift_invariant = True

    def __call__(self, Z):
        return Softmax()(Z)

    def loss_gradient(self, Y, Z):
        return Softmax().loss_gradient(Y, Z)


def test_check_normalizer_passes_user_normalizers():
    report = check_normalizer(PowerRatio(power=1.5), large_score=None)
    assert not report.has_hessp
    assert report.max_hessp_error is None
    assert report.shift_invariant_observed is False
    assert report.convex is False
    assert report.init_scale == 0.01
    report = check_normalizer(DuckSoftmax())
    assert report.shift_invariant_observed
    assert report.shift_invariant
    assert report.init_scale == 0.0
    assert report.convex


def test_check_normalizer_notes_undeclared_shift_invariance():
    class Undeclared(Softmax):
        shift_invariant = False

    report = check_normalizer(Undeclared())
    assert report.shift_invariant_observed
    assert not report.shift_invariant
    assert any("shift_invariant" in note for note in report.notes)


def test_check_normalizer_names_a_missing_method():
    class NoGradient:
        def __call__(self, Z):
            return Softmax()(Z)

    with pytest.raises(
        TypeError, match=r"lacks the required method\(s\) \['loss_gradient'\]"
    ):
        check_normalizer(NoGradient())
    with pytest.raises(TypeError, match="__call__"):
        check_normalizer(object())


class WrongGradient(Softmax):
    def loss_gradient(self, Y, Z):
        loss, grad = super().loss_gradient(Y, Z)
        return loss, grad + 0.01 * Y


class WrongHessp(Softmax):
    def hessp(self, Z, V):
        return super().hessp(Z, V) * 1.1


class OffSimplex(Softmax):
    def __call__(self, Z):
        return super().__call__(Z) * 1.01


class Negative(Softmax):
    def __call__(self, Z):
        # Moves mass from class 0 to class 1: rows still sum to one.
        P = super().__call__(Z)
        P[:, 0] -= 0.5
        P[:, 1] += 0.5
        return P


class Upcasts(Softmax):
    def __call__(self, Z):
        return super().__call__(Z.astype(np.float64))


class FalselyShiftInvariant(Taylor):
    shift_invariant = True


class MonotoneDecisionClaim(Taylor):
    def decision(self, Z):
        return Z


class NaiveSoftmax(Normalizer):
    """exp without the max shift: overflows at scores of 1e4."""

    def __call__(self, Z):
        E = np.exp(Z)
        return E / E.sum(axis=1, keepdims=True)

    def loss_gradient(self, Y, Z):
        E = np.exp(Z)
        s = E.sum(axis=1, keepdims=True)
        return np.log(s[:, 0]) - (Y * Z).sum(axis=1), E / s - Y


class BatchDependent(Softmax):
    def __call__(self, Z):
        return super().__call__(Z * Z.shape[0])


class StuckAtZero(Spherical):
    def init_scale(self):
        return 0.0


class HiddenState(Normalizer):
    """Stores its parameter under another name: get_params cannot find it."""

    def __init__(self, scale=1.0):
        self._scale = scale

    def __call__(self, Z):
        return Softmax()(Z * self._scale)

    def loss_gradient(self, Y, Z):
        loss, grad = Softmax().loss_gradient(Y, Z * self._scale)
        return loss, grad * self._scale


@pytest.mark.parametrize(
    ("normalizer", "message"),
    [
        (WrongGradient(), r"gradient \(one-hot targets\): d loss / d z"),
        (WrongHessp(), r"hessp \(one-hot targets\)"),
        (OffSimplex(), "probabilities on the simplex: a row sums to"),
        (Negative(), "probabilities on the simplex: negative probability"),
        (Upcasts(), r"dtype preservation \(float32\): __call__ returned float64"),
        (FalselyShiftInvariant(), "shift invariance: shift_invariant is True"),
        (MonotoneDecisionClaim(), "decision consistent with __call__"),
        (NaiveSoftmax(), "stability at scores of magnitude 10000"),
        (BatchDependent(), "row-wise evaluation"),
        (StuckAtZero(), "zero start"),
        (HiddenState(scale=2.0), "cloning"),
    ],
    ids=lambda x: x if isinstance(x, str) else type(x).__name__,
)
def test_check_normalizer_names_the_failing_property(normalizer, message):
    with pytest.raises(AssertionError, match=message):
        check_normalizer(normalizer)


def test_check_normalizer_wraps_exceptions_of_the_normalizer():
    class Raises(Softmax):
        def loss_gradient(self, Y, Z):
            raise RuntimeError("boom")

    with pytest.raises(AssertionError, match="loss_gradient raised RuntimeError: boom"):
        check_normalizer(Raises())


def test_check_normalizer_validates_its_arguments():
    with pytest.raises(ValueError, match="n_classes"):
        check_normalizer(Softmax(), n_classes=1)
    with pytest.raises(ValueError, match="n_samples"):
        check_normalizer(Softmax(), n_samples=1)


def test_check_normalizer_is_deterministic_and_accepts_a_single_class_count():
    first = check_normalizer(Entmax15(), random_state=3, n_classes=4)
    second = check_normalizer(Entmax15(), random_state=3, n_classes=4)
    assert first == second
    assert first.n_classes == (4,)


def test_check_normalizer_verifies_a_declared_likelihood():
    from softreg.normalizers import Sparsemax

    check_normalizer(Softmax())  # declares it, and its loss is -log p

    class FalseClaim(Sparsemax):
        likelihood = True  # the sparsemax loss is not -log p

    with pytest.raises(AssertionError, match="likelihood"):
        check_normalizer(FalseClaim())
