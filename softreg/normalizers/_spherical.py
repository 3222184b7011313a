"""The spherical softmax: squared scores, normalized."""

from numbers import Real

from ._quadratic import _QuadraticRatio


class Spherical(_QuadraticRatio):
    r"""Spherical softmax: :math:`p_k \propto z_k^2 + \varepsilon`.

    The normalizer of Vincent et al. (2015) studied by de Brébisson &
    Vincent (2015), trained by the negative log-likelihood. It depends on the
    scores only through their squares, so it is blind to their sign.

    Parameters
    ----------
    eps : float, default=0.1
        Positive constant added to every squared score. It keeps every
        probability positive (at least :math:`\varepsilon / (\lVert z
        \rVert^2 + K\varepsilon)`) and sets the unit of the scores; see Notes
        for the choice of the default. Grid-searchable as
        ``normalizer__eps``.

    See Also
    --------
    Taylor : The other quadratic normalizer of the same paper.
    Softmax : The canonical normalizer.

    Notes
    -----
    With :math:`q = z^2 + \varepsilon` (elementwise) and
    :math:`Q = \sum_k q_k`, the per-row loss for a target row :math:`y`
    (summing to one) is :math:`\log Q - \sum_k y_k \log q_k`, its gradient
    :math:`2z/Q - 2\, y \odot z / q` and its Hessian

    .. math::

        \operatorname{diag}\Big(\frac{2}{Q}
        + 2\, y \odot \frac{z^2 - \varepsilon}{q^2}\Big)
        - \frac{4 z z^\top}{Q^2},

    which depends on :math:`y`; :meth:`hessp` therefore takes ``Y``.

    **Start.** :math:`z = 0` is a stationary point (a saddle) of the loss,
    so a fit started at zero never moves. ``convex`` is False and
    :meth:`init_scale` returns :math:`0.1\sqrt{\varepsilon}`: a random start
    of that standard deviation gives scores small against the width
    :math:`\sqrt{\varepsilon}` of the saddle region (so no sample starts
    confidently wrong) yet large enough for the gradient, which grows like
    :math:`z / \varepsilon` there, to leave the saddle at once. On the data
    sets named below, starts of standard deviation :math:`\sqrt{\varepsilon}`
    ended in worse local minima more often; much smaller ones only cost
    iterations.

    **The default eps.** Scaling the scores by :math:`s` is the same as
    dividing :math:`\varepsilon` by :math:`s^2`:
    :math:`p(z; \varepsilon) = p(z / s; \varepsilon / s^2)`. So for a linear
    model with penalty :math:`\lVert W \rVert^2 / (2C)`, ``eps`` is a
    re-parametrisation of ``C`` (``(eps, C)`` fits the probabilities of
    ``(1, C / eps)``), and with ``C=np.inf`` it has no effect at all. The
    default 0.1 puts the scores on the softmax's scale: with the other
    scores at zero, :math:`p_y = 0.99` on three classes needs
    :math:`z_y \approx 4.4` (softmax: a margin of 5.3), so the default
    ``C=1`` regularises both alike. A much smaller ``eps`` makes the loss
    stiff near :math:`z_y = 0` (curvature :math:`\sim 1/\varepsilon`). On
    the standardised iris, wine, digits and breast-cancer data with ``C=1``,
    ``eps`` of 0.1 or 1 gave the best held-out log-loss and accuracy, and
    ``eps=1e-3`` needed two to ten times more L-BFGS iterations.

    **Temperature.** :math:`p(z/T; \varepsilon) = p(z; \varepsilon T^2)`:
    as :math:`T \to \infty` it tends to the uniform distribution, as
    :math:`T \to 0` to :math:`z^2 / \lVert z \rVert^2` (for :math:`z \ne 0`),
    never to the argmax.

    **Stability.** :math:`\sqrt{q}` is computed by ``hypot`` and scaled by
    the row maximum, so no score is squared and any finite score is safe.

    Examples
    --------
    >>> import numpy as np
    >>> from softreg.normalizers import Spherical
    >>> Spherical(eps=0.1)(np.array([[-2.0, 0.0, 2.0]])).round(3)
    array([[0.494, 0.012, 0.494]])
    >>> Spherical(eps=1.0).get_params()
    {'eps': 1.0}
    """

    def __init__(self, eps=0.1):
        self.eps = eps

    def init_scale(self):
        """Standard deviation of the random start, ``0.1 * sqrt(eps)``.

        Returns
        -------
        scale : float
            Positive: ``z = 0`` is a stationary point of the loss.
        """
        return 0.1 * self._shift_and_floor()[1] ** 0.5

    def _shift_and_floor(self):
        eps = self.eps
        if not (isinstance(eps, Real) and 0 < eps < float("inf")):
            raise ValueError(
                f"Spherical(eps={eps!r}): eps must be a positive finite number."
            )
        return 0.0, float(eps)
