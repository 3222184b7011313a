"""Names of the built-in normalizers and the resolution of the estimator's spec."""

from sklearn.base import clone

from ._base import REQUIRED_METHODS, missing_methods
from ._softmax import Softmax
from ._sparse import Entmax15, Sparsemax
from ._spherical import Spherical
from ._standard import Standard
from ._taylor import Taylor

NORMALIZERS = {
    "softmax": Softmax,
    "taylor": Taylor,
    "spherical": Spherical,
    "sparsemax": Sparsemax,
    "entmax15": Entmax15,
    "standard": Standard,
}


def resolve_normalizer(spec):
    """Turn a name or a normalizer instance into a fresh normalizer object.

    Parameters
    ----------
    spec : str or object
        One of the names in ``NORMALIZERS`` or an object with the methods
        ``__call__`` and ``loss_gradient``.

    Returns
    -------
    normalizer : object
        A new instance (a clone of ``spec`` when it is an object), so fitting
        never mutates the constructor parameter.
    """
    if isinstance(spec, str):
        try:
            return NORMALIZERS[spec]()
        except KeyError:
            raise ValueError(
                f"Unknown normalizer {spec!r}; valid names are "
                f"{sorted(NORMALIZERS)} or a Normalizer instance."
            ) from None
    missing = missing_methods(spec, REQUIRED_METHODS)
    if missing:
        raise TypeError(
            f"normalizer {spec!r} lacks the method(s) {missing}; a normalizer "
            f"needs {list(REQUIRED_METHODS)} (see softreg.normalizers.Normalizer)."
        )
    return clone(spec, safe=False)
