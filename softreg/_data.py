"""Training data held in memory, as the estimator's fit sees it.

The estimator asks its data for the classes and their weight totals, for
the rows object the objective's passes run over, and for the out-of-fold
criterion of ``temperature="auto"``. :class:`softreg._dask.DaskFitData`
answers the same questions for Dask collections.
"""

import numpy as np
from sklearn.model_selection import check_cv
from sklearn.utils import Bunch

from ._blocks import InMemoryRows
from ._objective import linear_scores
from ._targets import apply_class_weight, class_totals
from ._temperature import held_out_terms


class InMemoryFitData:
    """Validated in-memory training data.

    Parameters
    ----------
    X : {ndarray, csr_matrix} of shape (n_samples, n_features)
    targets : ndarray of shape (n_samples,) or (n_samples, n_classes)
        Labels encoded in ``range(n_classes)``, or soft targets.
    classes : ndarray of shape (n_classes,)
    sample_weight : ndarray of shape (n_samples,)
        In ``X``'s dtype.
    make_runner : callable
        Returns the :class:`~softreg._blocks.BlockRunner` of one fit.

    Attributes
    ----------
    classes : ndarray
        The class labels.
    class_totals : ndarray of shape (n_classes,)
        Sum of the sample weights of each class.
    n_passes : int
        Passes over the data before the final fit (the folds of
        ``temperature="auto"``).
    """

    def __init__(self, X, targets, classes, sample_weight, make_runner):
        self.y = targets
        self.classes = classes
        self.X = X
        self.dtype = X.dtype
        self.sample_weight = sample_weight
        self.class_totals = class_totals(targets, sample_weight, classes.size)
        self._make_runner = make_runner
        self.n_passes = 0

    def rows(self, class_weight, index=None):
        """The rows of the fit (or of ``index``), with class weights applied."""
        y, sw = apply_class_weight(self.y, self.sample_weight, class_weight)
        if index is None:
            return self._make_rows(self.X, y, sw)
        return self._make_rows(self._take(index), y[index], sw[index])

    def _take(self, index):
        """The rows ``index`` of ``X``."""
        return self.X[index]

    def _make_rows(self, X, y, sample_weight):
        return InMemoryRows(X, y, sample_weight, self.classes.size, self._make_runner())

    def _scores(self, index, coef, intercept):
        """Scores of the rows ``index`` under ``(coef, intercept)``, at T=1."""
        return linear_scores(
            self._take(index),
            coef.T.astype(self.dtype),
            intercept.astype(self.dtype),
            1.0,
        )

    def out_of_fold_terms(self, estimator, class_weight, splitter):
        """Held-out criterion of ``temperature="auto"`` as a function of ``log T``.

        Fits one model per fold of ``splitter`` (at ``T = 1``, every class
        kept) and returns ``log_t -> (loss, slope)`` of their out-of-fold
        scores, for :func:`softreg._temperature.minimize_temperature`.
        """
        folds = self.out_of_fold(estimator, class_weight, splitter)
        return held_out_terms(
            estimator.normalizer_, folds.scores, folds.targets, folds.weights
        )

    def out_of_fold(self, estimator, class_weight, splitter):
        """The fold models of ``splitter`` and their out-of-fold scores.

        One model per fold (at ``T = 1``, every class kept), trained on the
        other folds; each row's score comes from the one model that did not
        see it.

        Returns
        -------
        folds : :class:`~sklearn.utils.Bunch`
            ``scores`` (n_samples, n_classes) in ``X``'s dtype; ``targets``
            (encoded labels or soft targets) and ``weights`` (class weights
            applied) of those rows; ``coefs`` (n_folds, n_classes,
            n_features) and ``intercepts`` (n_folds, n_classes) of the fold
            models, float64; ``n_iter``, the solver iterations of each;
            ``folds``, the fold that scored each row (-1 for a row in no
            test fold).
        """
        # Soft targets are stratified by their most probable class.
        strata = self.y if self.y.ndim == 1 else self.y.argmax(axis=1)
        cv = check_cv(splitter, strata, classifier=True)
        n_classes = self.classes.size
        y, sw = apply_class_weight(self.y, self.sample_weight, class_weight)
        scores = np.zeros((strata.size, n_classes), dtype=self.dtype)
        coefs, intercepts, n_iter = [], [], []
        fold_of = np.full(strata.size, -1)
        # The splitter needs only the number of rows from X (which may be on a
        # device): an empty host stand-in.
        rows_only = np.empty((strata.size, 0))
        for k, (train, test) in enumerate(cv.split(rows_only, strata)):
            fold_of[test] = k
            # A class absent from a training fold simply gets no samples,
            # which the objective handles.
            rows = self.rows(class_weight, train)
            coef, intercept, iters = estimator._solve(rows, n_classes, 1.0, False)
            self.n_passes += rows.n_passes
            scores[test] = self._scores(test, coef, intercept)
            coefs.append(coef)
            intercepts.append(intercept)
            n_iter.append(iters)
        return Bunch(
            scores=scores,
            targets=y,
            weights=sw,
            coefs=np.stack(coefs),
            intercepts=np.stack(intercepts),
            n_iter=np.array(n_iter),
            folds=fold_of,
        )
