"""The normalizer protocol: a row-wise map from class scores to the simplex."""

import numpy as np
from sklearn.base import BaseEstimator

from ._utils import namespace

#: Methods every normalizer must define.
REQUIRED_METHODS = ("__call__", "loss_gradient")


class Normalizer(BaseEstimator):
    """Base class of the maps from class scores to probabilities.

    A normalizer works row by row: it maps each row ``z`` of a score matrix
    ``Z`` of shape ``(n_samples, n_classes)`` to a point of the probability
    simplex, and it knows the per-row training loss of those probabilities
    against a target matrix ``Y`` whose rows sum to one (one-hot labels or
    soft targets). Because it is row-wise, the objective can be evaluated on
    independent blocks of rows.

    Subclasses must define two methods:

    ``__call__(Z)``
        Probabilities, shape ``(n, K)``, every row on the simplex.
    ``loss_gradient(Y, Z)``
        Per-row losses, shape ``(n,)``, and the gradient of each row's loss
        with respect to that row of ``Z``, shape ``(n, K)``.

    Everything else is optional and has a default here: :meth:`log_proba`,
    :meth:`decision`, :meth:`init_scale`, :attr:`convex`,
    :attr:`shift_invariant` and :attr:`likelihood`; objects that do not
    derive from this class get the same defaults. One optional method has no default:

    ``hessp(Z, V, Y=None)``
        The product of each row's loss Hessian (w.r.t. that row of ``Z``)
        with that row of ``V``, shape ``(n, K)``. Solvers always pass the
        targets ``Y``, since the Hessian of a log-loss generally depends on
        them. The Newton solvers need it; a solver that needs a method the
        normalizer lacks raises an error naming that method.

    Normalizers derive from :class:`sklearn.base.BaseEstimator` so that their
    hyperparameters are reachable by ``get_params``/``set_params`` and hence
    by :class:`~sklearn.model_selection.GridSearchCV` (``normalizer__eps``).

    See Also
    --------
    softreg.normalizers.Softmax : The canonical normalizer.

    Examples
    --------
    >>> import numpy as np
    >>> from softreg.normalizers import Softmax
    >>> Softmax()(np.array([[1.0, 2.0, 3.0]])).round(3)
    array([[0.09 , 0.245, 0.665]])
    """

    #: Whether the per-row loss is convex in the scores. A non-convex
    #: normalizer gets a small random start instead of the zero start.
    convex = True

    #: Whether adding the same constant to every score of a row leaves the
    #: probabilities unchanged. The estimator centres ``coef_`` and
    #: ``intercept_`` over classes only for shift-invariant normalizers,
    #: whose scores are defined up to that constant.
    shift_invariant = False

    #: Whether the loss of ``loss_gradient`` is the negative log-likelihood
    #: ``-sum_k y_k log p_k`` of the probabilities ``__call__`` returns, so
    #: that its Hessian is an observed information. Statistical inference
    #: (``SoftmaxRegression.inference``) needs it, and shift invariance.
    likelihood = False

    def log_proba(self, Z):
        """Logarithm of the probabilities; ``-inf`` where a probability is 0.

        Parameters
        ----------
        Z : ndarray of shape (n_samples, n_classes)
            Class scores.

        Returns
        -------
        log_P : ndarray of shape (n_samples, n_classes)
            Log-probabilities.
        """
        P = self(Z)
        with np.errstate(divide="ignore"):
            return namespace(P).log(P)

    def decision(self, Z):
        """Scores whose row-wise order is the order of the probabilities.

        The estimator's ``decision_function`` returns this. The default is
        the log-probabilities, consistent with ``__call__`` for every
        normalizer; monotone normalizers may return ``Z`` itself.

        Parameters
        ----------
        Z : ndarray of shape (n_samples, n_classes)
            Class scores.

        Returns
        -------
        D : ndarray of shape (n_samples, n_classes)
            Decision scores.
        """
        return optional(self, "log_proba")(Z)

    def init_scale(self):
        """Standard deviation of the random start; 0 means start at zero.

        Returns
        -------
        scale : float
            0 for convex normalizers, whose zero start is safe.
        """
        return 0.0 if optional(self, "convex") else 1e-2


_MISSING = object()


def optional(normalizer, name):
    """The normalizer's attribute ``name``, or the :class:`Normalizer` default.

    A user normalizer need not derive from :class:`Normalizer`: the two
    required methods are enough, and every optional one falls back to the
    base class's default, bound to the user's object.
    """
    value = getattr(normalizer, name, _MISSING)
    if value is not _MISSING:
        return value
    default = getattr(Normalizer, name)
    return default.__get__(normalizer) if callable(default) else default


def missing_methods(obj, methods=REQUIRED_METHODS):
    """Names of the callables in ``methods`` that ``obj`` lacks."""
    return [m for m in methods if not callable(getattr(obj, m, None))]


def one_hot(y, n_classes, dtype):
    """One-hot target matrix of integer labels ``y``."""
    Y = np.zeros((y.shape[0], n_classes), dtype=dtype)
    Y[np.arange(y.shape[0]), y] = 1
    return Y
