"""The Taylor softmax: the second-order expansion of exp, normalized."""

from ._quadratic import _QuadraticRatio


class Taylor(_QuadraticRatio):
    r"""Taylor softmax: :math:`p_k \propto g(z_k)` with :math:`g(x) = 1 + x + x^2/2`.

    Replaces the exponential of the softmax by its second-order Taylor
    polynomial (de Brébisson & Vincent, 2015), which is at least 1/2
    everywhere, and trains by the negative log-likelihood. Near zero it
    behaves like the softmax; away from zero it is polynomial, so its
    probabilities saturate slowly and it is not monotone.

    See Also
    --------
    Spherical : The other quadratic normalizer of the same paper.
    Softmax : The exponential it approximates.

    Notes
    -----
    With :math:`G = \sum_j g(z_j)` the per-row loss for a target row
    :math:`y` (summing to one) is

    .. math::

        \ell(z; y) = \log G - \sum_k y_k \log g(z_k),

    with gradient :math:`(1 + z) / G - y \odot (1 + z) / g(z)` (for a
    one-hot :math:`y`: :math:`(1+z)/G - e_y (1 + z_y)/g(z_y)`) and Hessian

    .. math::

        \operatorname{diag}\Big(\frac{1}{G} + y \odot \frac{g(z) - 1}{g(z)^2}\Big)
        - \frac{(1 + z)(1 + z)^\top}{G^2},

    which depends on :math:`y`; :meth:`hessp` therefore takes ``Y``.

    **Non-convex, not monotone.** :math:`g` decreases for :math:`x < -1`,
    so a very negative score can win: :math:`z = (-5, 0)` gives
    :math:`p \approx (0.895, 0.105)`. ``convex`` is False and
    :meth:`decision` is the log-probability (the default), never ``z``.
    The zero start is not stationary (the gradient there is
    :math:`1/K - y`, as for the softmax) and lies on the increasing branch,
    so :meth:`init_scale` is 0: fits start deterministically at zero.

    **Temperature.** As :math:`T \to \infty`, :math:`p(z/T)` tends to the
    uniform distribution; as :math:`T \to 0` the quadratic term dominates and
    :math:`p(z/T) \to z^2 / \lVert z \rVert^2` (for :math:`z \ne 0`), which
    is *not* the argmax: the sign of the scores is lost.

    **Stability.** Uses :math:`g(x) = ((x + 1)^2 + 1)/2` computed through
    ``hypot`` and scaled by the row maximum, so no score is squared.

    Examples
    --------
    >>> import numpy as np
    >>> from softreg.normalizers import Taylor
    >>> Taylor()(np.array([[-5.0, 0.0], [0.0, 1.0]])).round(3)
    array([[0.895, 0.105],
           [0.286, 0.714]])
    >>> loss, grad = Taylor().loss_gradient(np.array([[0.0, 1.0]]),
    ...                                     np.array([[0.0, 1.0]]))
    >>> loss.round(4), grad.round(4)
    (array([0.3365]), array([[ 0.2857, -0.2286]]))
    """

    def init_scale(self):
        """Standard deviation of the random start: 0, fits start at zero.

        Returns
        -------
        scale : float
            0.0: the zero start is not a stationary point of the Taylor loss.
        """
        return 0.0

    def _shift_and_floor(self):
        return 1.0, 1.0
