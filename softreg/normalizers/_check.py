"""check_normalizer: test a normalizer against the protocol the estimator relies on."""

import inspect
import warnings
from dataclasses import dataclass, field

import numpy as np
from sklearn.base import clone
from sklearn.utils import check_random_state

from ._base import REQUIRED_METHODS, missing_methods


@dataclass(frozen=True)
class NormalizerReport:
    """What :func:`check_normalizer` found about a normalizer that passed.

    Attributes
    ----------
    name : str
        ``repr`` of the normalizer.
    n_classes : tuple of int
        The numbers of classes it was checked on.
    convex : bool
        The declared ``convex`` attribute (True if absent).
    init_scale : float
        ``init_scale()``, or 0.0 if the method is absent.
    shift_invariant : bool
        The declared ``shift_invariant`` attribute (False if absent).
    shift_invariant_observed : bool
        Whether ``p(z + c) == p(z)`` held on the test scores.
    has_hessp : bool
        Whether a ``hessp`` method was found (and checked).
    hessp_takes_targets : bool
        Whether ``hessp`` has a ``Y`` parameter (it is then given the
        targets); needed by log-losses that are not exponential families.
    max_gradient_error : float
        Largest finite-difference error of ``loss_gradient``, relative to
        ``1 + max |gradient|`` of its row.
    max_hessp_error : float or None
        The same for ``hessp`` against differences of the gradient.
    notes : tuple of str
        Findings that are not failures but deserve a look.
    """

    name: str
    n_classes: tuple
    convex: bool
    init_scale: float
    shift_invariant: bool
    shift_invariant_observed: bool
    has_hessp: bool
    hessp_takes_targets: bool
    max_gradient_error: float
    max_hessp_error: float | None
    notes: tuple = field(default_factory=tuple)


class _Checker:
    """Runs the checks of one normalizer; each failure names its property."""

    def __init__(self, normalizer, rng, rtol, scale, large_score, n_classes_max):
        self.nz = normalizer
        self.n_classes_max = n_classes_max
        self.name = _safe_repr(normalizer)
        self.rng = rng
        self.rtol = rtol
        self.scale = scale
        self.large_score = large_score
        self.notes = []
        hessp = getattr(normalizer, "hessp", None)
        self.has_hessp = callable(hessp)
        self.hessp_takes_targets = self.has_hessp and _accepts(hessp, "Y")
        self.grad_err = 0.0
        self.hessp_err = 0.0 if self.has_hessp else None

    def fail(self, prop, message):
        raise AssertionError(f"check_normalizer({self.name}): {prop}: {message}")

    def call(self, prop, method, *args, **kwargs):
        """Call a method of the normalizer; an exception fails ``prop``."""
        fn = self.nz if method == "__call__" else getattr(self.nz, method)
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            self.fail(prop, f"{method} raised {type(exc).__name__}: {exc}")

    def proba(self, prop, Z):
        P = np.asarray(self.call(prop, "__call__", Z))
        if P.shape != Z.shape:
            self.fail(prop, f"__call__ returned shape {P.shape}, expected {Z.shape}.")
        return P

    def loss_grad(self, prop, Y, Z):
        out = self.call(prop, "loss_gradient", Y, Z)
        if not (isinstance(out, tuple) and len(out) == 2):
            self.fail(prop, "loss_gradient must return a tuple (loss, grad).")
        loss, grad = np.asarray(out[0]), np.asarray(out[1])
        if loss.shape != (Z.shape[0],):
            self.fail(
                prop,
                f"loss_gradient returned a loss of shape {loss.shape}, expected "
                f"{(Z.shape[0],)} (one loss per row).",
            )
        if grad.shape != Z.shape:
            self.fail(
                prop,
                f"loss_gradient returned a gradient of shape {grad.shape}, "
                f"expected {Z.shape}.",
            )
        if not (np.all(np.isfinite(loss)) and np.all(np.isfinite(grad))):
            self.fail(prop, "loss_gradient returned non-finite values.")
        return loss, grad

    def hessp(self, prop, Z, V, Y):
        kwargs = {"Y": Y} if self.hessp_takes_targets else {}
        HV = np.asarray(self.call(prop, "hessp", Z, V, **kwargs))
        if HV.shape != Z.shape:
            self.fail(prop, f"hessp returned shape {HV.shape}, expected {Z.shape}.")
        return HV

    def scores(self, n_samples, n_classes):
        return self.rng.normal(scale=self.scale, size=(n_samples, n_classes))

    def targets(self, n_samples, n_classes):
        onehot = np.eye(n_classes)[self.rng.randint(n_classes, size=n_samples)]
        soft = self.rng.dirichlet(np.ones(n_classes), size=n_samples)
        return {"one-hot targets": onehot, "soft targets": soft}

    def check_simplex(self, Z):
        prop = "probabilities on the simplex"
        P = self.proba(prop, Z)
        if not np.all(np.isfinite(P)):
            self.fail(prop, "__call__ returned non-finite probabilities.")
        tol = 8 * np.finfo(P.dtype).eps if P.dtype.kind == "f" else 0
        if P.min() < -tol:
            self.fail(prop, f"negative probability {P.min():.3g}.")
        sums = P.sum(axis=1)
        worst = np.max(np.abs(sums - 1))
        if worst > 1e3 * tol:
            bad = sums[np.argmax(np.abs(sums - 1))]
            self.fail(prop, f"a row sums to {bad!r}, not 1.")
        return P

    def check_rowwise(self, Z, P):
        prop = "row-wise evaluation"
        order = self.rng.permutation(Z.shape[0])
        P_perm = self.proba(prop, Z[order])
        P_one = self.proba(prop, Z[:1])
        if not (np.allclose(P_perm, P[order]) and np.allclose(P_one, P[:1])):
            self.fail(
                prop,
                "a row's probabilities depend on the other rows; the objective "
                "evaluates independent blocks of rows.",
            )

    def check_gradient(self, Z, Y, target_kind):
        prop = f"gradient ({target_kind})"
        _, grad = self.loss_grad(prop, Y, Z)
        h = 1e-6 * (1 + np.abs(Z))
        fd = np.empty_like(Z)
        # Rows are independent, so one column perturbed in every row at once
        # gives that column's partial derivatives for all rows.
        for k in range(Z.shape[1]):
            Zp, Zm = Z.copy(), Z.copy()
            Zp[:, k] += h[:, k]
            Zm[:, k] -= h[:, k]
            fd[:, k] = (
                self.loss_grad(prop, Y, Zp)[0] - self.loss_grad(prop, Y, Zm)[0]
            ) / (Zp[:, k] - Zm[:, k])
        err = _relative_error(grad, fd)
        self.grad_err = max(self.grad_err, float(err.max()))
        if err.max() > self.rtol:
            i, k = np.unravel_index(np.argmax(err), err.shape)
            self.fail(
                prop,
                f"d loss / d z[{i}, {k}] is {grad[i, k]:.6g} but finite differences "
                f"give {fd[i, k]:.6g} (relative error {err[i, k]:.2g} > rtol="
                f"{self.rtol:g}).",
            )

    def check_hessp(self, Z, Y, target_kind):
        prop = f"hessp ({target_kind})"
        V = self.rng.normal(size=Z.shape)
        HV = self.hessp(prop, Z, V, Y)
        h = 1e-6 * (1 + np.abs(Z).max(axis=1, keepdims=True))
        gp = self.loss_grad(prop, Y, Z + h * V)[1]
        gm = self.loss_grad(prop, Y, Z - h * V)[1]
        fd = (gp - gm) / (2 * h)
        err = _relative_error(HV, fd)
        self.hessp_err = max(self.hessp_err, float(err.max()))
        if err.max() > self.rtol:
            i = np.argmax(err.max(axis=1))
            self.fail(
                prop,
                f"row {i}: hessp gives {np.array2string(HV[i], precision=5)} but "
                f"finite differences of the gradient give "
                f"{np.array2string(fd[i], precision=5)} (relative error "
                f"{err[i].max():.2g} > rtol={self.rtol:g}).",
            )

    def check_dtypes(self, Z, Y):
        results = {}
        for dtype in (np.float32, np.float64):
            prop = f"dtype preservation ({np.dtype(dtype).name})"
            Zd, Yd = Z.astype(dtype), Y.astype(dtype)
            outs = {"__call__": self.proba(prop, Zd)}
            outs["loss"], outs["gradient"] = self.loss_grad(prop, Yd, Zd)
            if self.has_hessp:
                outs["hessp"] = self.hessp(prop, Zd, Zd, Yd)
            for what, arr in outs.items():
                if arr.dtype != dtype:
                    self.fail(
                        prop,
                        f"{what} returned {arr.dtype} for {np.dtype(dtype).name} "
                        "scores; keep the input's dtype.",
                    )
            results[dtype] = outs
        prop = "float32 accuracy"
        for what, arr32 in results[np.float32].items():
            arr64 = results[np.float64][what]
            tol = 1e-3 * (1 + np.abs(arr64).max())
            if np.abs(arr32.astype(np.float64) - arr64).max() > tol:
                self.fail(
                    prop,
                    f"{what} in float32 differs from float64 by "
                    f"{np.abs(arr32 - arr64).max():.3g} (more than {tol:.3g}).",
                )

    def check_large_scores(self, Z, Y):
        prop = f"stability at scores of magnitude {self.large_score:g}"
        big = Z / np.abs(Z).max() * self.large_score
        for dtype in (np.float64, np.float32):
            Zb, Yb = big.astype(dtype), Y.astype(dtype)
            # Underflow to zero (exp of a very negative number) is harmless
            # and expected; overflow, division by zero and NaNs are not.
            with np.errstate(over="raise", divide="raise", invalid="raise"):
                P = self.proba(prop, Zb)
                self.loss_grad(prop, Yb, Zb)
                if self.has_hessp:
                    HV = self.hessp(prop, Zb, np.ones_like(Zb), Yb)
                    if not np.all(np.isfinite(HV)):
                        self.fail(prop, "hessp returned non-finite values.")
            if not np.all(np.isfinite(P)) or np.abs(P.sum(axis=1) - 1).max() > 1e-3:
                self.fail(prop, f"__call__ left the simplex in {np.dtype(dtype).name}.")

    def check_shift(self, Z, P):
        prop = "shift invariance"
        c = self.rng.uniform(-3 * self.scale, 3 * self.scale, size=(Z.shape[0], 1))
        P_shift = self.proba(prop, Z + c)
        observed = bool(np.allclose(P_shift, P, rtol=1e-7, atol=1e-10))
        declared = bool(getattr(self.nz, "shift_invariant", False))
        if declared and not observed:
            self.fail(
                prop,
                "shift_invariant is True but p(z + c) != p(z) (max difference "
                f"{np.abs(P_shift - P).max():.3g}); the estimator would centre "
                "coef_ and change the predictions.",
            )
        return observed

    def check_likelihood(self, Z, P, Y):
        if not getattr(self.nz, "likelihood", False):
            return
        prop = "likelihood"
        loss = np.asarray(self.call(prop, "loss_gradient", Y, Z)[0])
        with np.errstate(divide="ignore", invalid="ignore"):
            nll = -np.sum(np.where(Y > 0, Y * np.log(P), 0.0), axis=1)
        if not np.allclose(loss, nll, rtol=1e-7, atol=1e-10):
            self.fail(
                prop,
                "likelihood is True but the loss is not -sum_k y_k log p_k "
                f"(max difference {np.abs(loss - nll).max():.3g}); inference "
                "would read a Hessian that is not an observed information.",
            )

    def check_log_proba_and_decision(self, Z, P):
        if callable(getattr(self.nz, "log_proba", None)):
            prop = "log_proba consistent with __call__"
            with np.errstate(divide="ignore"):
                L = np.asarray(self.call(prop, "log_proba", Z))
            if L.shape != Z.shape or not np.allclose(np.exp(L), P, atol=1e-10):
                self.fail(prop, "exp(log_proba(Z)) differs from normalizer(Z).")
        if callable(getattr(self.nz, "decision", None)):
            prop = "decision consistent with __call__"
            with np.errstate(divide="ignore"):
                D = np.asarray(self.call(prop, "decision", Z))
            if D.shape != Z.shape:
                self.fail(
                    prop, f"decision returned shape {D.shape}, expected {Z.shape}."
                )
            # Wherever p_i > p_j clearly, the decision must rank i above j.
            higher = (P[:, :, None] - P[:, None, :]) > 1e-9
            wrong = higher & ~(D[:, :, None] > D[:, None, :])
            if wrong.any():
                i, a, b = np.argwhere(wrong)[0]
                self.fail(
                    prop,
                    f"row {i}: p[{a}] = {P[i, a]:.4g} > p[{b}] = {P[i, b]:.4g} but "
                    f"decision ranks them the other way ({D[i, a]:.4g} <= "
                    f"{D[i, b]:.4g}); a non-monotone normalizer must not return "
                    "the scores as decision (the default, log_proba, is safe).",
                )

    def check_clone(self, Z, P):
        prop = "cloning"
        try:
            # The estimator clones the normalizer it is given, as here.
            twin = clone(self.nz, safe=False)
        except Exception as exc:
            self.fail(prop, f"sklearn.base.clone raised {type(exc).__name__}: {exc}")
        try:
            P_twin = twin(Z)
        except Exception as exc:
            self.fail(prop, f"the clone raised {type(exc).__name__}: {exc}")
        if not np.allclose(P_twin, P):
            self.fail(
                prop,
                "the clone gives other probabilities: keep every hyperparameter "
                "as a constructor argument stored under its own name.",
            )

    def check_start(self):
        convex = bool(getattr(self.nz, "convex", True))
        scale = 0.0
        if callable(getattr(self.nz, "init_scale", None)):
            scale = self.call("init_scale", "init_scale")
            if not (np.isscalar(scale) and np.isfinite(scale) and scale >= 0):
                self.fail("init_scale", f"init_scale() returned {scale!r}.")
        if not convex and scale == 0:
            # A fit starting at W = 0 sees scores of zero for every sample; if
            # the gradient vanishes there for every target, it never moves.
            Z0 = np.zeros((self.n_classes_max, self.n_classes_max))
            Y0 = np.eye(self.n_classes_max)
            _, grad = self.loss_grad("zero start", Y0, Z0)
            if np.abs(grad).max() == 0:
                self.fail(
                    "zero start",
                    "the gradient vanishes at zero scores for every target and "
                    "init_scale() is 0, so a fit would never leave its start; "
                    "return a positive init_scale().",
                )
        return convex, float(scale)


def _safe_repr(obj):
    # BaseEstimator's repr reads the constructor parameters, which is the
    # very thing a broken normalizer may get wrong: fall back to the class.
    try:
        return repr(obj)
    except Exception:
        return f"{type(obj).__name__}(...)"


def _accepts(fn, name):
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def _relative_error(a, b):
    """``|a - b|`` relative to ``1 + max |b|`` of each row."""
    scale = 1 + np.abs(b).max(axis=1, keepdims=True)
    return np.abs(a - b) / scale


def check_normalizer(
    normalizer,
    *,
    random_state=0,
    n_classes=(2, 5),
    n_samples=10,
    scale=2.0,
    rtol=1e-5,
    large_score=1e4,
):
    r"""Check that a normalizer follows the protocol :class:`SoftmaxRegression` uses.

    Run it on a normalizer you wrote before fitting with it. Every check uses
    random scores, so it tests the methods, not a fit. In order:

    1. the required methods ``__call__`` and ``loss_gradient`` exist;
    2. probabilities are finite, non-negative and sum to one per row, and a
       row's result does not depend on the other rows;
    3. ``loss_gradient`` returns a loss per row and a gradient that matches
       central finite differences of the loss, for one-hot and soft targets;
    4. ``hessp``, if present, matches finite differences of the gradient
       (it is called as ``hessp(Z, V, Y=Y)`` if it has a ``Y`` parameter,
       else as ``hessp(Z, V)``);
    5. float32 scores give float32 results and float64 give float64, and
       the two agree to float32 accuracy;
    6. scores of magnitude ``large_score`` give finite results without
       overflow, division-by-zero or invalid-value floating point errors;
    7. the declared ``shift_invariant`` is not contradicted: if it is True,
       ``p(z + c)`` must equal ``p(z)`` (an observed invariance that is not
       declared is only reported);
    8. ``log_proba`` and ``decision``, if present, agree with the
       probabilities (``decision`` must order each row as ``p`` does);
    9. :func:`sklearn.base.clone` gives a normalizer with the same outputs,
       and ``init_scale`` returns a non-negative number (positive if the
       normalizer is not convex and zero scores are a stationary point).
    10. if ``likelihood`` is declared True, the loss is the negative
        log-likelihood ``-sum_k y_k log p_k`` of ``__call__``'s probabilities.

    Parameters
    ----------
    normalizer : object
        The normalizer to check, typically a :class:`Normalizer` subclass.
    random_state : int, RandomState instance or None, default=0
        Seed of the random scores, targets and directions. The checks avoid
        the non-smooth points of a piecewise smooth map only with
        probability one; if a finite-difference check fails at a kink, try
        another seed.
    n_classes : int or tuple of int, default=(2, 5)
        Numbers of classes to check; two classes catch binary edge cases.
    n_samples : int, default=10
        Rows of the random score matrices.
    scale : float, default=2.0
        Standard deviation of the random scores.
    rtol : float, default=1e-5
        Largest accepted finite-difference error, relative to one plus the
        largest entry of the row's gradient (or Hessian-vector product).
    large_score : float or None, default=1e4
        Magnitude of the scores in the stability check; None skips it.

    Returns
    -------
    report : NormalizerReport
        What was found, including the observed shift behaviour, the largest
        finite-difference errors and notes.

    Raises
    ------
    TypeError
        If a required method is missing; the message names it.
    AssertionError
        If a check fails; the message names the failing property.

    See Also
    --------
    Normalizer : The base class and its optional methods.

    Examples
    --------
    A normalizer that divides a softplus of the scores by its sum, with its
    negative log-likelihood:

    >>> import numpy as np
    >>> from softreg.normalizers import Normalizer, Softmax, check_normalizer
    >>> class SoftplusRatio(Normalizer):
    ...     convex = False
    ...     def __call__(self, Z):
    ...         Q = np.logaddexp(0, Z)
    ...         return Q / Q.sum(axis=1, keepdims=True)
    ...     def loss_gradient(self, Y, Z):
    ...         Q = np.logaddexp(0, Z)
    ...         S = Q.sum(axis=1, keepdims=True)
    ...         sig = np.exp(Z - Q)  # the derivative of softplus
    ...         loss = np.log(S[:, 0]) - (Y * np.log(Q)).sum(axis=1)
    ...         return loss, sig / S - Y * sig / Q
    >>> # softplus underflows to 0 below about -745, where its log is -inf:
    >>> # skip the check at scores of 1e4.
    >>> report = check_normalizer(SoftplusRatio(), large_score=None)
    >>> report.shift_invariant_observed, report.max_gradient_error < 1e-7
    (False, True)

    The softmax passes everything, including its ``hessp``:

    >>> report = check_normalizer(Softmax())
    >>> report.shift_invariant, report.shift_invariant_observed, report.has_hessp
    (True, True, True)

    A wrong gradient is caught and named:

    >>> class Bad(Softmax):
    ...     def loss_gradient(self, Y, Z):
    ...         loss, grad = super().loss_gradient(Y, Z)
    ...         return loss, 2 * grad
    >>> check_normalizer(Bad())  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    AssertionError: check_normalizer(Bad()): gradient (one-hot targets): d loss / ...
    """
    missing = missing_methods(normalizer, REQUIRED_METHODS)
    if missing:
        raise TypeError(
            f"check_normalizer({_safe_repr(normalizer)}): the normalizer lacks "
            f"the required method(s) {missing}; every normalizer needs "
            f"{list(REQUIRED_METHODS)} (see softreg.normalizers.Normalizer)."
        )
    ks = (n_classes,) if np.isscalar(n_classes) else tuple(n_classes)
    if not ks or any(int(k) < 2 for k in ks):
        raise ValueError(f"n_classes must be at least 2; got {n_classes!r}.")
    if int(n_samples) < 2:
        raise ValueError(f"n_samples must be at least 2; got {n_samples!r}.")
    checker = _Checker(
        normalizer,
        check_random_state(random_state),
        rtol,
        scale,
        large_score,
        max(int(k) for k in ks),
    )
    convex, init_scale = checker.check_start()
    shift_observed = True
    with warnings.catch_warnings():
        # A RuntimeWarning from numpy means a silent inf or nan in a fit.
        warnings.simplefilter("error", RuntimeWarning)
        for k in ks:
            Z = checker.scores(int(n_samples), int(k))
            P = checker.check_simplex(Z)
            checker.check_rowwise(Z, P)
            targets = checker.targets(int(n_samples), int(k))
            for kind, Y in targets.items():
                checker.check_gradient(Z, Y, kind)
                if checker.has_hessp:
                    checker.check_hessp(Z, Y, kind)
            checker.check_dtypes(Z, targets["soft targets"])
            if large_score is not None:
                checker.check_large_scores(Z, targets["one-hot targets"])
            shift_observed &= checker.check_shift(Z, P)
            checker.check_log_proba_and_decision(Z, P)
            checker.check_likelihood(Z, P, targets["soft targets"])
            checker.check_clone(Z, P)
    declared = bool(getattr(normalizer, "shift_invariant", False))
    if shift_observed and not declared:
        checker.notes.append(
            "p(z + c) == p(z) on the test scores but shift_invariant is not "
            "True: declaring it lets the estimator report centred coef_."
        )
    return NormalizerReport(
        name=checker.name,
        n_classes=tuple(int(k) for k in ks),
        convex=convex,
        init_scale=init_scale,
        shift_invariant=declared,
        shift_invariant_observed=shift_observed,
        has_hessp=checker.has_hessp,
        hessp_takes_targets=checker.hessp_takes_targets,
        max_gradient_error=checker.grad_err,
        max_hessp_error=checker.hessp_err,
        notes=tuple(dict.fromkeys(checker.notes)),
    )
