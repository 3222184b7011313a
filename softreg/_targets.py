"""Training targets: class labels or soft targets, smoothing and class weights.

``fit`` accepts either labels (1-D) or a soft-target matrix ``Y`` of shape
``(n_samples, n_classes)`` whose rows are probability vectors. Everything
here reduces both to what the objective takes: encoded labels (1-D) or a
target matrix (2-D, rows summing to 1), and the per-sample weights ``s_i``.

The reference for every soft-target rule below is the *replicated* data set:
row ``i`` repeated once per class ``k`` with label ``k`` and weight
``sample_weight_i * Y_ik``. Its objective is the soft-target objective, so a
class weight ``c_k`` (which multiplies the weight of every row of class
``k``) turns row ``i`` into the weight ``s_i = sample_weight_i * sum_k c_k
Y_ik`` and the target row ``c_k Y_ik / sum_j c_j Y_ij``, and
``"balanced"`` uses the soft class totals ``sum_i sample_weight_i Y_ik``.
"""

import numpy as np
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_array, validate_data

# Rows of a soft-target matrix must sum to 1 within this (then they are
# rescaled to sum to 1 exactly): loose enough for float32 teacher
# probabilities, tight enough to reject counts or multilabel indicators.
ROW_SUM_ATOL = 1e-4

_SOFT_HELP = (
    "Soft targets must be a float array of shape (n_samples, n_classes) with "
    "n_classes >= 2, non-negative entries and every row summing to 1 (a "
    "probability vector per sample, e.g. a teacher's predict_proba); class "
    "labels must be 1-D."
)


def is_soft(y):
    """Whether ``y`` is a soft-target matrix (2-D with more than one column)."""
    shape = getattr(y, "shape", None)
    if shape is None:
        # Lists, and objects with only __array__ (scikit-learn's checks).
        try:
            shape = np.asarray(y).shape
        except ValueError:  # ragged: validate_data reports it
            return False
    return len(shape) == 2 and shape[1] != 1


def check_soft_targets(Y, dtype):
    """Validate a soft-target matrix and return it in ``dtype``, rows summing to 1.

    Parameters
    ----------
    Y : array-like of shape (n_samples, n_classes)
    dtype : numpy dtype
        The dtype of ``X`` (float32 stays float32).

    Returns
    -------
    Y : ndarray of shape (n_samples, n_classes)
    """
    Y = check_array(Y, dtype=[np.float64, np.float32], input_name="y")
    if Y.shape[1] < 2:
        raise ValueError(f"{_SOFT_HELP} Got {Y.shape[1]} column.")
    if np.any(Y < 0):
        raise ValueError(f"{_SOFT_HELP} Got negative entries.")
    sums = Y.sum(axis=1, dtype=np.float64)
    bad = np.flatnonzero(np.abs(sums - 1) > ROW_SUM_ATOL)
    if bad.size:
        raise ValueError(
            f"{_SOFT_HELP} Got {bad.size} row(s) whose sum is not 1 (row "
            f"{bad[0]} sums to {sums[bad[0]]:g}). A multilabel indicator "
            "matrix is not a soft target; normalise counts by their row sums."
        )
    # Rescale so that the loss logsumexp(z) - <y, z> is exact for every row.
    return np.asarray(Y / sums[:, None], dtype=dtype)


def validate_training_data(estimator, X, y, classes=None, reset=True, dtype=None):
    """Validate ``X`` and the targets; return ``(X, targets, classes)``.

    ``targets`` is the 1-D array of labels encoded in ``range(n_classes)``,
    or the soft-target matrix. With ``reset=False`` (data given to a fitted
    model) the classes are the model's ``classes_``. ``dtype`` is the list
    of accepted float dtypes of ``X`` (NumPy's by default; those of ``X``'s
    namespace for array-API input, whose targets are NumPy arrays).
    """
    if dtype is None:
        dtype = [np.float64, np.float32]
    if is_soft(y):
        X = validate_data(estimator, X, accept_sparse="csr", dtype=dtype, reset=reset)
        # The NumPy dtype of the same name (X may be a tensor).
        Y = check_soft_targets(y, np.dtype(str(X.dtype).rsplit(".", 1)[-1]))
        if Y.shape[0] != X.shape[0]:
            raise ValueError(
                f"X has {X.shape[0]} samples but the soft targets y have "
                f"{Y.shape[0]} rows."
            )
        if not reset:
            classes = estimator.classes_
        classes = np.arange(Y.shape[1]) if classes is None else np.asarray(classes)
        if classes.shape != (Y.shape[1],) or np.unique(classes).size != Y.shape[1]:
            raise ValueError(
                f"classes must hold {Y.shape[1]} distinct labels, one per column "
                f"of the soft targets y; got {classes!r}."
            )
        return X, Y, classes
    if classes is not None:
        raise ValueError(
            "classes names the columns of soft targets; with class labels y, "
            "classes_ is the sorted set of labels."
        )
    X, y = validate_data(estimator, X, y, accept_sparse="csr", dtype=dtype, reset=reset)
    check_classification_targets(y)
    if not reset:
        unknown = np.setdiff1d(y, estimator.classes_)
        if unknown.size:
            raise ValueError(f"y holds labels not in classes_: {unknown.tolist()}")
        return X, np.searchsorted(estimator.classes_, y), estimator.classes_
    encoder = LabelEncoder()
    return X, encoder.fit_transform(y), encoder.classes_


def smooth(targets, n_classes, eps, dtype):
    """Label smoothing: ``(1 - eps) Y + eps / n_classes``; labels stay labels at 0."""
    if eps == 0:
        return targets
    if targets.ndim == 1:
        Y = np.zeros((targets.size, n_classes), dtype=dtype)
        Y[np.arange(targets.size), targets] = 1
    else:
        Y = targets
    return np.asarray((1 - eps) * Y + eps / n_classes, dtype=dtype)


def class_totals(targets, sample_weight, n_classes):
    """Weighted (soft) count of every class."""
    if targets.ndim == 1:
        return np.bincount(targets, weights=sample_weight, minlength=n_classes)
    return np.asarray(sample_weight, dtype=np.float64) @ targets


def apply_class_weight(targets, sample_weight, weights):
    """Fold per-class weights into ``(targets, sample_weight)``.

    Parameters
    ----------
    targets : ndarray of shape (n_samples,) or (n_samples, n_classes)
        Encoded labels or soft targets.
    sample_weight : ndarray of shape (n_samples,)
    weights : ndarray of shape (n_classes,)
        The weight of each class (see ``SoftmaxRegression._class_weight``).

    Returns
    -------
    targets, sample_weight
        For labels, the labels and ``sample_weight * weights[label]``; for
        soft targets, the rows of the replicated data set regrouped: weight
        ``s_i sum_k c_k Y_ik`` and target row ``c_k Y_ik / sum_j c_j Y_ij``.
    """
    if np.all(weights == 1):
        return targets, sample_weight
    dtype = sample_weight.dtype
    if targets.ndim == 1:
        return targets, sample_weight * weights[targets].astype(dtype)
    # Row i of the replicated data set has weight s_i Y_ik c_k for class k.
    mass = targets.astype(np.float64) @ weights
    positive = mass > 0
    Y = targets.astype(np.float64) * weights
    Y[positive] /= mass[positive, None]
    Y[~positive] = targets[~positive]
    return Y.astype(targets.dtype), sample_weight * mass.astype(dtype)


def soft_log_loss(y_true, y_proba, *, sample_weight=None):
    """Cross-entropy of predicted probabilities against soft targets.

    ``-sum_k Y_ik log P_ik`` averaged over samples (weighted by
    ``sample_weight``); for one-hot rows it is
    :func:`sklearn.metrics.log_loss`. Probabilities are clipped to
    ``[eps, 1]`` of their dtype, as scikit-learn's log-loss does, so that
    normalizers with exact zeros give a finite loss.

    Parameters
    ----------
    y_true : array-like of shape (n_samples, n_classes) or (n_samples,)
        Soft targets (rows summing to 1), or labels in ``range(n_classes)``.
    y_proba : array-like of shape (n_samples, n_classes) or (n_samples,)
        Predicted probabilities; a 1-D array is the probability of the
        second of two classes (what scikit-learn's scorers pass for binary
        problems).
    sample_weight : array-like of shape (n_samples,), default=None

    Returns
    -------
    loss : float

    Examples
    --------
    >>> import numpy as np
    >>> from softreg import soft_log_loss
    >>> Y = np.array([[0.8, 0.2], [0.5, 0.5]])
    >>> round(soft_log_loss(Y, Y), 4)  # the entropy of the targets
    0.5968
    """
    P = np.asarray(y_proba, dtype=np.float64)
    if P.ndim == 1:
        P = np.column_stack([1 - P, P])
    Y = np.asarray(y_true)
    if Y.ndim == 1:
        Y = np.eye(P.shape[1])[Y.astype(np.intp)]
    if Y.shape != P.shape:
        raise ValueError(f"y_true has shape {Y.shape} but y_proba has shape {P.shape}.")
    eps = np.finfo(np.asarray(y_proba).dtype).eps
    losses = -np.sum(Y * np.log(np.clip(P, eps, 1)), axis=1)
    if sample_weight is None:
        return float(losses.mean())
    sw = _check_sample_weight(sample_weight, losses)
    return float(np.dot(sw, losses) / sw.sum())


def neg_soft_log_loss_scorer(estimator, X, y_true, sample_weight=None):
    """Scorer for soft targets: minus :func:`soft_log_loss` of ``predict_proba``.

    scikit-learn's scorers expect labels; pass this as ``scoring=`` to
    :func:`~sklearn.model_selection.cross_val_score`,
    :class:`~sklearn.model_selection.GridSearchCV` and friends when ``y`` is
    a soft-target matrix. Greater is better, as for every scorer.

    Parameters
    ----------
    estimator : fitted classifier
        Has ``predict_proba``, columns in the order of the targets' columns.
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
    y_true : array-like of shape (n_samples, n_classes) or (n_samples,)
        Soft targets, or labels in ``range(n_classes)``.
    sample_weight : array-like of shape (n_samples,), default=None

    Returns
    -------
    score : float
        ``-soft_log_loss(y_true, estimator.predict_proba(X))``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.model_selection import KFold, cross_val_score
    >>> from softreg import SoftmaxRegression, neg_soft_log_loss_scorer
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(60, 2))
    >>> Y = rng.dirichlet([1, 1, 1], size=60)
    >>> scores = cross_val_score(SoftmaxRegression(), X, Y, cv=KFold(3),
    ...                          scoring=neg_soft_log_loss_scorer)
    >>> bool(np.all(scores < 0))
    True
    """
    return -soft_log_loss(
        y_true, estimator.predict_proba(X), sample_weight=sample_weight
    )
