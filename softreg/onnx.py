"""Export fitted softreg models to ONNX with skl2onnx.

Needs the ``onnx`` extra (``pip install softreg[onnx]``: skl2onnx, onnx and
onnxruntime). ``import softreg`` never imports this module; importing it
imports skl2onnx.

Call :func:`register` once, then convert as any scikit-learn model:

>>> import numpy as np
>>> from sklearn.datasets import load_iris
>>> import onnxruntime as ort
>>> import skl2onnx
>>> import softreg.onnx
>>> from softreg import SoftmaxRegression
>>> softreg.onnx.register()
>>> X, y = load_iris(return_X_y=True)
>>> clf = SoftmaxRegression(normalizer="sparsemax").fit(X, y)
>>> onx = skl2onnx.to_onnx(clf, X[:1], options={"zipmap": False})
>>> session = ort.InferenceSession(onx.SerializeToString())
>>> label, proba = session.run(None, {"X": X[:3]})
>>> label.tolist() == clf.predict(X[:3]).tolist()
True
>>> bool(np.abs(proba - clf.predict_proba(X[:3])).max() < 1e-10)
True

Every built-in normalizer and the temperature are exported; a user-written
normalizer must provide its graph with a method ``onnx_proba(Z, op_version,
dtype)`` (see :func:`register`).
"""

from . import _onnx


def register():
    """Register softreg's estimators with skl2onnx's converter registry.

    Registers a converter, a shape calculator and the classifier parser for
    :class:`~softreg.SoftmaxRegression` (and ``SoftmaxRegressionCV`` when
    this version of softreg has it), so that :func:`skl2onnx.to_onnx` and
    :func:`skl2onnx.convert_sklearn` convert them, alone or inside a
    :class:`~sklearn.pipeline.Pipeline`. Calling it again is harmless.

    The graph has the two outputs of every skl2onnx classifier, ``label``
    and ``probabilities``, and accepts the usual options: ``zipmap``
    (``True``, ``False`` or ``"columns"``) and ``nocl``. Float64 input
    (``X[:1]`` of dtype float64, or ``DoubleTensorType``) gives a float64
    graph whose probabilities match :meth:`~softreg.SoftmaxRegression.
    predict_proba` to about 1e-15; float32 input gives a float32 graph.

    A normalizer that is not built in is exported only if it has a method
    ``onnx_proba(Z, op_version, dtype)`` returning its probabilities of the
    score node ``Z`` as :mod:`skl2onnx.algebra.onnx_ops` operators; otherwise
    the conversion raises :class:`NotImplementedError` naming that method.
    """
    import softreg

    _onnx.register(softreg.SoftmaxRegression)
    cv_class = getattr(softreg, "SoftmaxRegressionCV", None)
    if cv_class is not None:
        _onnx.register(cv_class, alias=_onnx.ALIAS + "CV")


def to_onnx(model, X=None, **kwargs):
    """:func:`register`, then :func:`skl2onnx.to_onnx` ``(model, X, **kwargs)``.

    Parameters
    ----------
    model : estimator or Pipeline
        A fitted softreg estimator, or a pipeline ending in one.
    X : array-like, default=None
        A sample of the input (e.g. ``X[:1]``), whose dtype sets the graph's.
    **kwargs
        Passed to :func:`skl2onnx.to_onnx` (``options``, ``target_opset``...).

    Returns
    -------
    onx : onnx.ModelProto
    """
    import skl2onnx

    register()
    return skl2onnx.to_onnx(model, X, **kwargs)
