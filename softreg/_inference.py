r"""Statistical inference on a fitted model: covariance, Wald tests, fit statistics.

Everything is read from the fitted parameters and one pass over the training
data. With weights :math:`s_i` (frequency weights: sample weight times class
weight), targets :math:`y_i` (one-hot or soft), augmented rows
:math:`\tilde x_i = (x_i, 1)` and per-row loss :math:`\ell_i` (the negative
log-likelihood), the pass accumulates

* the observed information of the full (over-parametrised) model,
  :math:`\sum_i s_i (\tilde x_i \tilde x_i^\top) \otimes H_i` with
  :math:`H_i` the Hessian of :math:`\ell_i` w.r.t. the scores (for softmax
  :math:`\operatorname{diag}(p_i) - p_i p_i^\top`), obtained from the
  normalizer's ``hessp``, plus :math:`I / C` on the weights for the
  penalised objective;
* the outer products of the per-row scores,
  :math:`\sum_i s_i g_i g_i^\top` with
  :math:`g_i = \tilde x_i \otimes \nabla_z \ell_i`, the "meat" of the HC0
  sandwich (frequency weights enter once, as for replicated rows);
* the log-likelihood :math:`-\sum_i s_i \ell_i` and the gradient (to check
  that the model sits at the optimum of this data).

The parameters are then mapped to the reference-class parametrisation
:math:`\beta_k = \theta_k - \theta_{ref}` by the exact linear map from
:math:`\beta` to the centred parameters the estimator reports.
"""

import warnings
from numbers import Real

import numpy as np
import scipy.sparse as sp
from scipy.stats import chi2, norm
from sklearn.utils import Bunch

from ._separation import separation_direction
from ._solvers import require_memory
from .normalizers._base import optional

COV_TYPES = ("nonrobust", "HC0")

# Eigenvalues of the diagonally scaled information matrix below this (relative
# to the largest) are treated as zero: the parameters loading on them are not
# identified (collinear columns, infinite coefficients).
_RCOND = 1e-10
# A parameter is "affected" when its squared loading on that null space
# exceeds this.
_LOADING = 1e-6
# Bytes per block for the per-row Kronecker products.
_BLOCK_BYTES = 1 << 25


def _check_supported(normalizer):
    if not (
        optional(normalizer, "likelihood") and optional(normalizer, "shift_invariant")
    ):
        raise TypeError(
            "Inference needs a normalizer whose loss is the negative "
            "log-likelihood of its probabilities (likelihood = True) and that is "
            "shift invariant (shift_invariant = True), such as softmax; "
            f"{type(normalizer).__name__} is not, so its Hessian is not an "
            "observed information and no reference-class model exists."
        )


def _dense_rows(X, sl, fit_intercept):
    Xb = X[sl]
    Xb = Xb.toarray() if sp.issparse(Xb) else np.asarray(Xb)
    Xb = Xb.astype(np.float64, copy=False)
    if fit_intercept:
        Xb = np.hstack([Xb, np.ones((Xb.shape[0], 1))])
    return Xb


def accumulate(
    X, targets, sample_weight, theta, normalizer, inv_temperature, fit_intercept
):
    """One pass: information, meat, gradient and log-likelihood (full model).

    Parameters
    ----------
    X : {ndarray, csr_matrix} of shape (n_samples, n_features)
    targets : ndarray of shape (n_samples,) or (n_samples, n_classes)
    sample_weight : ndarray of shape (n_samples,)
    theta : ndarray of shape (q, n_classes)
        ``coef_.T`` with the intercept as last row when ``fit_intercept``.
    normalizer : object
    inv_temperature : float
    fit_intercept : bool

    Returns
    -------
    Bunch with ``info``, ``meat`` (both ``(q K, q K)``, flat index
    ``j * K + k``), ``grad`` (``(q K,)``), ``loglik`` (float) and
    ``separated`` (whether the scores classify every weighted one-hot row
    strictly correctly, i.e. the classes are completely separated).
    """
    q, K = theta.shape
    n = X.shape[0]
    info = np.zeros((q, K, q, K))
    meat = np.zeros((q * K, q * K))
    grad = np.zeros(q * K)
    loglik = 0.0
    # Complete separation: every weighted row has a one-hot target whose
    # score beats all others.
    separated = True
    rows = max(1, _BLOCK_BYTES // (8 * q * K * K))
    eye = np.eye(K)
    for start in range(0, n, rows):
        sl = slice(start, min(start + rows, n))
        Xb = _dense_rows(X, sl, fit_intercept)
        s = np.asarray(sample_weight[sl], dtype=np.float64)
        Z = (Xb @ theta) * inv_temperature
        if targets.ndim == 1:
            Y = eye[targets[sl]]
        else:
            Y = np.asarray(targets[sl], dtype=np.float64)
        loss, R = normalizer.loss_gradient(Y, Z)
        if separated:
            keep = s > 0
            own = np.where(Y[keep] == 1, Z[keep], -np.inf).max(axis=1)
            rest = np.where(Y[keep] == 1, -np.inf, Z[keep]).max(axis=1)
            separated = bool(np.all((Y[keep] == 0) | (Y[keep] == 1))) and bool(
                np.all(own > rest)
            )
        loglik -= float(np.dot(s, loss))
        R = R * inv_temperature
        # Row Hessians w.r.t. the scores, one unit direction at a time.
        Hrows = (
            np.stack(
                [
                    normalizer.hessp(Z, np.broadcast_to(eye[k], Z.shape), Y=Y)
                    for k in range(K)
                ],
                axis=2,
            )
            * inv_temperature**2
        )
        m = Xb.shape[0]
        weighted = (s[:, None, None] * Hrows).reshape(m, 1, K * K)
        block = Xb.T @ (Xb[:, :, None] * weighted).reshape(m, q * K * K)
        info += block.reshape(q, q, K, K).transpose(0, 2, 1, 3)
        G = (Xb[:, :, None] * R[:, None, :]).reshape(m, q * K)
        grad += s @ G
        meat += G.T @ (s[:, None] * G)
    return Bunch(
        info=info.reshape(q * K, q * K),
        meat=meat,
        grad=grad,
        loglik=loglik,
        separated=separated,
        n_classes=K,
        fit_intercept=fit_intercept,
    )


def class_map(n_classes, ref):
    """``(K, K - 1)`` map from one feature's reference-class to centred parameters.

    ``beta`` over the non-reference classes maps to ``theta_k = beta_k -
    mean_m beta_m`` with ``beta_ref = 0``: the centred representative the
    estimator reports. The full map is ``kron(I_q, class_map)``.
    """
    select = np.delete(np.eye(n_classes), ref, axis=1)
    return (np.eye(n_classes) - 1.0 / n_classes) @ select


def reference_map(q, n_classes, ref):
    """Dense matrix of the map from ``beta`` (flat ``j * (K - 1) + k'``) to theta."""
    return np.kron(np.eye(q), class_map(n_classes, ref))


def to_reference(matrix, q, A):
    """``M^T matrix M`` for ``M = kron(I_q, A)``, without forming ``M``.

    Contracting the class axes only costs ``O(q^2 K^3)`` instead of the
    ``O((q K)^3)`` of two dense products with ``M``.
    """
    K, m = A.shape
    full = matrix.reshape(q, K, q, K)
    out = np.einsum("kc,jkld,dm->jclm", A, full, A, optimize=True)
    return out.reshape(q * m, q * m)


def _covariance(H, meat, cov_type):
    """Inverse (or sandwich) with NaN for non-identified parameters."""
    d = np.sqrt(np.clip(np.diag(H), 0, None))
    zero = d == 0
    d[zero] = 1.0
    w, V = np.linalg.eigh(H / np.outer(d, d))
    null = w <= _RCOND * max(w.max(), 0)
    affected = zero | (np.sum(V[:, null] ** 2, axis=1) > _LOADING)
    good = ~null
    Hinv = (V[:, good] / w[good]) @ V[:, good].T / np.outer(d, d)
    cov = Hinv if cov_type == "nonrobust" else Hinv @ meat @ Hinv
    cov[affected, :] = np.nan
    cov[:, affected] = np.nan
    return cov, affected


def _infinite_parameters(X, targets, sample_weight, acc, C, ref, others):
    """Mask of the reference-class parameters that separation makes infinite."""
    q, K = acc.info.shape[0] // acc.n_classes, acc.n_classes
    infinite = np.zeros(q * (K - 1), dtype=bool)
    if not np.isinf(C):
        return infinite  # the penalised estimate always exists
    if acc.separated:
        # Every sample is classified with a margin: complete separation, in
        # which the whole estimate diverges.
        infinite[:] = True
        return infinite
    _, d = separation_direction(X, targets, sample_weight, K, acc.fit_intercept)
    if d is not None:
        d_beta = (d[:, others] - d[:, [ref]]).ravel()  # order j * (K - 1) + k'
        infinite = np.abs(d_beta) > 1e-6 * np.abs(d_beta).max()
    return infinite


def _post_hoc_temperature(estimator):
    """Whether ``temperature_`` was fitted after training at ``T = 1``."""
    return estimator.temperature == "auto" or getattr(
        estimator, "calibration", None
    ) in ("temperature", "vector", "ensemble")


def infer(
    estimator,
    X,
    targets,
    sample_weight,
    *,
    reference_class=None,
    cov_type="nonrobust",
    alpha=0.05,
):
    """Wald inference for a fitted estimator on its (validated) training data.

    Returns the :class:`~sklearn.utils.Bunch` documented in
    :meth:`SoftmaxRegression.inference`.
    """
    normalizer = estimator.normalizer_
    _check_supported(normalizer)
    if cov_type not in COV_TYPES:
        raise ValueError(f"cov_type must be one of {COV_TYPES}; got {cov_type!r}.")
    if not (isinstance(alpha, Real) and 0 < alpha < 1):
        raise ValueError(f"alpha must be in (0, 1); got {alpha!r}.")
    classes = estimator.classes_
    if reference_class is None:
        ref = 0
    else:
        matches = np.flatnonzero(classes == reference_class)
        if matches.size != 1:
            raise ValueError(
                f"reference_class={reference_class!r} is not one of the classes "
                f"{classes.tolist()}."
            )
        ref = int(matches[0])
    K = classes.size
    p = estimator.coef_.shape[1]
    fit_intercept = estimator.fit_intercept
    q = p + int(fit_intercept)
    n_full = q * K
    # The information and meat, their reference-class versions, the
    # eigenvectors with LAPACK's workspace and the (sandwich) covariance:
    # about eight dense square matrices, plus the block buffers.
    need = 8 * n_full**2 * 8 + _BLOCK_BYTES * 3
    require_memory(
        need,
        "Inference",
        f" for its dense {n_full} x {n_full} matrices",
        "Reduce the number of features or classes.",
    )
    # Inference is about the objective that was minimised, in its variables:
    # the trained coefficients are temperature_ times coef_ (a fixed T trains
    # at T; temperature="auto" trains at T = 1 and folds 1/T afterwards).
    # The estimates and their spread are reported on coef_'s scale below.
    scale = float(estimator.temperature_)
    theta = np.vstack([estimator.coef_.T, estimator.intercept_[None, :]])[:q]
    theta = theta.astype(np.float64) * scale
    train_t = 1.0 if _post_hoc_temperature(estimator) else scale
    inv_t = 1.0 / train_t
    acc = accumulate(X, targets, sample_weight, theta, normalizer, inv_t, fit_intercept)

    S = float(np.sum(sample_weight, dtype=np.float64))
    info = acc.info
    grad = acc.grad.copy()
    C = estimator.C
    if not np.isinf(C):
        penalised = np.zeros((q, K))
        penalised[:p] = 1.0 / C
        info = info + np.diag(penalised.ravel())
        grad += (theta / C * (penalised > 0)).ravel()
    max_grad = float(np.max(np.abs(grad))) / S
    if max_grad > max(10 * estimator.tol, 1e-7):
        warnings.warn(
            f"The model is not at the optimum of its objective on this data "
            f"(largest gradient entry {max_grad:.2e}, tol={estimator.tol:g}): "
            "pass the data it was fitted on, and refit with a smaller tol or a "
            "larger max_iter if it did not converge. The standard errors below "
            "are those of a point that is not the estimate.",
            UserWarning,
            stacklevel=3,
        )

    A = class_map(K, ref)
    H = to_reference(info, q, A)
    meat = to_reference(acc.meat, q, A)
    others = np.delete(np.arange(K), ref)
    infinite = _infinite_parameters(X, targets, sample_weight, acc, C, ref, others)
    cov = np.full_like(H, np.nan)
    affected = infinite.copy()
    finite = ~infinite
    if finite.any():
        # The finite parameters' covariance is the limit along the separating
        # direction: the separated samples' curvature vanishes there.
        cov_f, affected_f = _covariance(
            H[np.ix_(finite, finite)], meat[np.ix_(finite, finite)], cov_type
        )
        cov[np.ix_(finite, finite)] = cov_f
        affected[finite] = affected_f
    if infinite.any():
        warnings.warn(
            "The classes are (quasi-)separated: at C=inf the maximum-likelihood "
            f"estimate does not exist, and {int(infinite.sum())} of "
            f"{infinite.size} parameters grow without bound while the fit runs. "
            "Their standard errors are NaN; the others are those of the limit "
            "model. Use a finite C for a penalised fit, or drop the separating "
            "features.",
            UserWarning,
            stacklevel=3,
        )
    if (affected & ~infinite).any():
        warnings.warn(
            "The information matrix is singular: "
            f"{int((affected & ~infinite).sum())} of "
            f"{affected.size} parameters are not identified (collinear columns, "
            "or infinite coefficients from (quasi-)separation at C=inf); their "
            "standard errors are NaN.",
            UserWarning,
            stacklevel=3,
        )

    beta = (theta[:, others] - theta[:, [ref]]).T  # (K - 1, q), class-major
    # Flat beta in the map's order is j * (K - 1) + k'; report class-major.
    order = np.arange(q * (K - 1)).reshape(q, K - 1).T.ravel()
    cov = cov[np.ix_(order, order)]
    # Back to coef_'s scale: a fixed positive factor, so z and p are unchanged.
    beta, cov = beta / scale, cov / scale**2
    bse = np.sqrt(np.diag(cov)).reshape(K - 1, q)
    with np.errstate(invalid="ignore", divide="ignore"):
        zvalues = beta / bse
    pvalues = 2 * norm.sf(np.abs(zvalues))
    half = norm.ppf(1 - alpha / 2) * bse

    totals = (
        np.bincount(targets, weights=sample_weight, minlength=K)
        if targets.ndim == 1
        else np.asarray(sample_weight, dtype=np.float64) @ targets
    )
    pos = totals > 0
    llnull = float(np.sum(totals[pos] * np.log(totals[pos] / S)))
    llf = acc.loglik
    k_params = (K - 1) * q
    names = getattr(estimator, "feature_names_in_", None)
    names = [f"x{j}" for j in range(p)] if names is None else [str(n) for n in names]
    if fit_intercept:
        names = [*names, "intercept"]
    # The intercept is listed first, as in statistics tables.
    cols = np.r_[q - 1, 0 : q - 1] if fit_intercept else np.arange(q)
    cov_cols = (np.arange(K - 1)[:, None] * q + cols[None, :]).ravel()
    return Bunch(
        params=beta[:, cols],
        bse=bse[:, cols],
        zvalues=zvalues[:, cols],
        pvalues=pvalues[:, cols],
        ci_low=(beta - half)[:, cols],
        ci_high=(beta + half)[:, cols],
        cov=cov[np.ix_(cov_cols, cov_cols)],
        classes=classes[others],
        reference_class=classes[ref],
        feature_names=np.asarray(names, dtype=object)[cols],
        llf=llf,
        llnull=llnull,
        prsquared=1.0 - llf / llnull if llnull != 0 else np.nan,
        aic=-2 * llf + 2 * k_params,
        bic=-2 * llf + np.log(S) * k_params,
        nobs=S,
        n_params=k_params,
        llr_pvalue=float(chi2.sf(2 * (llf - llnull), (K - 1) * p)),
        cov_type=cov_type,
        alpha=alpha,
        C=C,
        max_gradient=max_grad,
    )


def _pandas():
    """pandas if installed (imported only when a table is asked for), else None."""
    try:
        import pandas
    except ImportError:
        return None
    return pandas


def coef_table(result):
    """Tidy table, one row per (class, feature): DataFrame or structured array."""
    n_cls, q = result.params.shape
    cls = np.repeat(result.classes, q)
    feat = np.tile(result.feature_names, n_cls)
    columns = {
        "class": cls,
        "feature": feat,
        "coef": result.params.ravel(),
        "std_err": result.bse.ravel(),
        "z": result.zvalues.ravel(),
        "p_value": result.pvalues.ravel(),
        "ci_low": result.ci_low.ravel(),
        "ci_high": result.ci_high.ravel(),
    }
    pd = _pandas()
    if pd is not None:
        return pd.DataFrame(columns)
    cls_dtype = cls.dtype if cls.dtype != object else np.dtype(object)
    width = max((len(f) for f in feat), default=1)
    dtype = [("class", cls_dtype), ("feature", f"U{width}")] + [
        (name, np.float64) for name in list(columns)[2:]
    ]
    out = np.empty(cls.size, dtype=dtype)
    for name, values in columns.items():
        out[name] = values
    return out


def summary_text(result, title="SoftmaxRegression results"):
    """Text summary in the layout of statistics packages."""
    width = 78
    left = [
        ("Model:", "multinomial logit"),
        ("Reference class:", str(result.reference_class)),
        ("Covariance type:", result.cov_type),
        ("Penalty:", "none (C=inf)" if np.isinf(result.C) else f"L2, C={result.C:g}"),
        ("No. observations:", f"{result.nobs:g}"),
        ("No. parameters:", str(result.n_params)),
    ]
    right = [
        ("Log-likelihood:", f"{result.llf:.4f}"),
        ("LL-null:", f"{result.llnull:.4f}"),
        ("Pseudo R-squ.:", f"{result.prsquared:.4f}"),
        ("AIC:", f"{result.aic:.4f}"),
        ("BIC:", f"{result.bic:.4f}"),
        ("LLR p-value:", f"{result.llr_pvalue:.4g}"),
    ]
    lines = [title.center(width), "=" * width]
    for (a, b), (c, d) in zip(left, right, strict=True):
        lines.append(f"{a:<18}{b:>20} {c:<17}{d:>21}")
    lines.append("=" * width)
    lo, hi = result.alpha / 2, 1 - result.alpha / 2
    for i, cls in enumerate(result.classes):
        header = (
            f"{'class=' + str(cls):<18}{'coef':>10}{'std err':>10}{'z':>8}"
            f"{'P>|z|':>8}{f'[{lo:.3g}':>12}{f'{hi:.3g}]':>12}"
        )
        lines.append(header)
        lines.append("-" * width)
        for j, name in enumerate(result.feature_names):
            label = name if len(name) <= 17 else name[:14] + "..."
            lines.append(
                f"{label:<18}{result.params[i, j]:>10.4f}{result.bse[i, j]:>10.3f}"
                f"{result.zvalues[i, j]:>8.3f}{result.pvalues[i, j]:>8.3f}"
                f"{result.ci_low[i, j]:>12.3f}{result.ci_high[i, j]:>12.3f}"
            )
        lines.append("=" * width)
    if not np.isinf(result.C):
        lines.append(
            "Penalised fit: covariance from the penalised Hessian (see the user guide)."
        )
    return "\n".join(lines)
