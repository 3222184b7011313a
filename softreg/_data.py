"""Training data held in memory, as the estimator's fit sees it.

The estimator asks its data for the classes and their weight totals, for
the rows object the objective's passes run over, and for the out-of-fold
criterion of ``temperature="auto"``. :class:`softreg._dask.DaskFitData`
answers the same questions for Dask collections.
"""

import numpy as np
from sklearn.model_selection import check_cv
from sklearn.preprocessing import LabelEncoder

from ._blocks import InMemoryRows
from ._objective import linear_scores
from ._temperature import temperature_terms


class InMemoryFitData:
    """Validated in-memory training data.

    Parameters
    ----------
    X : {ndarray, csr_matrix} of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,)
        Class labels.
    sample_weight : ndarray of shape (n_samples,)
        In ``X``'s dtype.
    make_runner : callable
        Returns the :class:`~softreg._blocks.BlockRunner` of one fit.

    Attributes
    ----------
    classes : ndarray
        Sorted distinct labels.
    class_totals : ndarray of shape (n_classes,)
        Sum of the sample weights of each class.
    n_passes : int
        Passes over the data before the final fit (the folds of
        ``temperature="auto"``).
    """

    def __init__(self, X, y, sample_weight, make_runner):
        encoder = LabelEncoder()
        self.y = encoder.fit_transform(y)
        self.classes = encoder.classes_
        self.X = X
        self.dtype = X.dtype
        self.sample_weight = sample_weight
        self.class_totals = np.bincount(
            self.y, weights=sample_weight, minlength=self.classes.size
        )
        self._make_runner = make_runner
        self.n_passes = 0

    def _weights(self, class_weight):
        return self.sample_weight * class_weight[self.y].astype(self.dtype)

    def rows(self, class_weight, index=None):
        """The rows of the fit (or of ``index``), with class weights applied."""
        X, y, sw = self.X, self.y, self._weights(class_weight)
        if index is not None:
            X, y, sw = X[index], y[index], sw[index]
        return InMemoryRows(X, y, sw, self.classes.size, self._make_runner())

    def out_of_fold_terms(self, estimator, class_weight, splitter):
        """Held-out criterion of ``temperature="auto"`` as a function of ``log T``.

        Fits one model per fold of ``splitter`` (at ``T = 1``, every class
        kept) and returns ``log_t -> (loss, slope)`` of their out-of-fold
        scores, for :func:`softreg._temperature.minimize_temperature`.
        """
        cv = check_cv(splitter, self.y, classifier=True)
        n_classes = self.classes.size
        sw = self._weights(class_weight)
        scores = np.zeros((self.X.shape[0], n_classes), dtype=self.dtype)
        for train, test in cv.split(self.X, self.y):
            # A class absent from a training fold simply gets no samples,
            # which the objective handles.
            rows = self.rows(class_weight, train)
            coef, intercept, _ = estimator._solve(rows, n_classes, 1.0, False)
            self.n_passes += rows.n_passes
            scores[test] = linear_scores(
                self.X[test],
                coef.T.astype(self.dtype),
                intercept.astype(self.dtype),
                1.0,
            )
        total = float(np.sum(sw, dtype=np.float64))
        normalizer = estimator.normalizer_

        def terms(log_t):
            loss, slope = temperature_terms(normalizer, scores, self.y, sw, log_t)
            return loss / total, slope / total

        return terms
