"""Solvers: scipy.optimize driven on a flat parameter vector.

Every solver minimises the same objective and stops on the same test as
scikit-learn's LogisticRegression: the largest absolute entry of the
gradient with respect to ``(W, b)`` is at most ``tol`` (the projected
gradient with L1 or bounds). Unlike scikit-learn's lbfgs, a stop of scipy's
own (``ftol``, a failed line search, precision loss) above ``tol`` is not
taken as convergence: :func:`_run` restarts with more accurate objective
values, and warns with the value reached if that does not help. They
differ in how many passes over the data they need to get there:

``"lbfgs"``
    :func:`scipy.optimize.minimize` with ``method="L-BFGS-B"``: one
    loss-and-gradient pass per iteration (plus line-search steps). Needs only
    the normalizer's ``loss_gradient``.
``"newton-cg"``
    ``method="Newton-CG"`` (line-search Newton with an inexact conjugate
    gradient inner solve): a loss-and-gradient pass per iteration plus one
    Hessian-vector product pass per inner CG step. Needs the normalizer's
    ``hessp``. Quadratic convergence near the optimum makes tight tolerances
    cheap.
``"trust-ncg"``
    ``method="trust-ncg"`` (Steihaug trust-region conjugate gradient), same
    building blocks as ``"newton-cg"`` with a trust region instead of a line
    search.

All three optimise, by default, in *standardised variables*: an exact affine
change of the parameters (see :class:`Standardized`) under which the data
look centred and unit-variance to the optimiser, while ``X`` itself is never
touched. The optimum, the penalty and the stopping test are those of the
original problem; only the path there is shorter on badly scaled data.
"""

import math
import os
import sys
import threading
import time
import warnings
from contextlib import contextmanager

import numpy as np
from scipy.optimize import minimize
from sklearn.exceptions import ConvergenceWarning

from ._blocks import same_point
from ._split import bounded
from ._standardize import Standardized
from .normalizers._base import missing_methods

# Iterations without a lower optimality measure after which a run on
# integrated float32 values may count as stalled (L-BFGS-B's memory, maxcor).
_STALL_ITERATIONS = 10
# The float32 copy of float64 data (LinearObjective.coarsen_precision)
# serves the passes until the largest gradient entry is within this factor
# of the change its rounding makes (gradient_rounding, which measured up to
# 10 times under the actual change near the optimum): the gradient is then
# still known to about 10%, which L-BFGS and Newton steps tolerate, and the
# passes after it run on the data themselves.
_HANDOVER = 100.0
# L-BFGS-B keeps 10 correction pairs (scikit-learn's maxcor); with its other
# work arrays and scipy's wrappers that is about 40 vectors of n_params.
_LBFGS_VECTORS = 40
# Newton-CG and trust-ncg: the CG vectors, the step and scipy's copies.
_NEWTON_VECTORS = 16


# A fit checks memory twice (for its data, then for the solver's working
# set) and a grid search runs hundreds of fits: reading /proc/meminfo and the
# cgroup files took ~80 us here, 5-8% of a whole fit on iris. A reading is
# reused for this long; what other code allocates within that time is not
# seen, which only matters for allocations that exhaust memory faster.
_MEMORY_READING_SECONDS = 0.25
_memory_reading = [-np.inf, None]  # (time.monotonic() of the reading, bytes)


def available_memory():
    """Bytes of memory this process can still allocate, or None if unknown.

    A reading younger than ``_MEMORY_READING_SECONDS`` is reused.
    """
    now = time.monotonic()
    taken, value = _memory_reading
    if now - taken < _MEMORY_READING_SECONDS:
        return value
    value = _read_available_memory()
    _memory_reading[:] = [now, value]
    return value


def _read_available_memory():
    candidates = []
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    candidates.append(int(line.split()[1]) * 1024)
    except OSError:
        pass
    try:  # cgroup v2 limit of a container
        with open("/sys/fs/cgroup/memory.max") as f:
            limit = f.read().strip()
        if limit != "max":
            with open("/sys/fs/cgroup/memory.current") as f:
                candidates.append(int(limit) - int(f.read().strip()))
    except (OSError, ValueError):
        pass
    if not candidates:
        try:
            pages = os.sysconf("SC_AVPHYS_PAGES")
            candidates.append(pages * os.sysconf("SC_PAGE_SIZE"))
        except (ValueError, OSError, AttributeError):
            return None
    return min(candidates)


_GIB = 1 << 30


def require_memory(need, what, detail, advice):
    """Raise MemoryError, before allocating, if ``need`` bytes are not available.

    The message reads "``what`` would need about N GiB``detail``, but only M
    GiB is available. ``advice``". Nothing is checked when the available
    memory is unknown.
    """
    have = available_memory()
    if have is not None and need > have:
        raise MemoryError(
            f"{what} would need about {need / _GIB:.2f} GiB{detail}, but only "
            f"{have / _GIB:.2f} GiB is available. {advice}"
        )


def check_memory_plan(objective, solver, n_vectors, extra_classes=0):
    """Raise MemoryError if ``solver``'s working set would not fit in memory.

    The working set is the solver's ``n_vectors`` float64 vectors of
    ``n_params`` entries plus the objective's per-evaluation buffers; ``X``
    is already in memory. The float32 copy of float64 ``X`` for the early
    passes is optional: it is made only where half the available memory
    holds it (see :func:`_run`).
    """
    need = n_vectors * objective.n_params * 8 + objective.memory_estimate(extra_classes)
    require_memory(
        need,
        f"solver={solver!r}",
        f" of working memory for {objective.n_params} parameters "
        f"({objective.n_features} features x {objective.n_classes} classes)",
        "Reduce the number of features or classes (e.g. with feature selection "
        "or hashing), or use solver='lbfgs', which needs the least memory.",
    )


class _Solver:
    """A named solver: the normalizer methods it needs, and how it runs."""

    def __init__(self, name, func, requires=(), n_vectors=_LBFGS_VECTORS, bounds=False):
        self.name = name
        self.func = func
        self.requires = tuple(requires)
        self.n_vectors = n_vectors
        self.supports_bounds = bounds
        self.__doc__ = func.__doc__

    def check_penalty(self, penalty):
        """Raise ValueError if ``penalty`` needs bounds this solver lacks."""
        if penalty.needs_bounds and not self.supports_bounds:
            others = sorted(n for n, s in SOLVERS.items() if s.supports_bounds)
            raise ValueError(
                f"solver={self.name!r} does not support l1_ratio > 0 or bounds "
                "(both need bound constraints on the variables, which only "
                f"L-BFGS-B handles); use solver={others[0]!r}."
            )

    def check(self, objective):
        """Raise if the penalty or the normalizer needs what this solver lacks."""
        self.check_penalty(objective.penalty)
        missing = missing_methods(objective.normalizer, self.requires)
        if missing:
            raise TypeError(
                f"solver={self.name!r} needs the normalizer method(s) {missing}, "
                f"which {type(objective.normalizer).__name__} does not define. "
                "Use solver='lbfgs', which needs only loss_gradient."
            )
        extra = objective.n_classes if "hessp" in self.requires else 0
        check_memory_plan(objective, self.name, self.n_vectors, extra)

    def __call__(self, objective, w0, *, tol, max_iter, verbose=0, standardize=True):
        self.check(objective)
        return self.func(
            objective, w0, tol=tol, max_iter=max_iter, verbose=verbose,
            standardize=standardize,
        )  # fmt: skip

    def __repr__(self):
        return f"<solver {self.name!r} requires={list(self.requires)}>"


class _Values:
    """The objective's value as the optimiser is told it.

    Near the optimum the objective changes between iterates by about
    ``|g|^2 / curvature``, which falls below the rounding of its value (a
    sum of per-row losses computed from rounded scores: about
    ``eps |f| / sqrt(n)`` for float32 scores). From there on, line searches
    and L-BFGS-B's ``ftol`` test compare noise: they spend passes on
    rejected steps, or stop with the gradient above ``tol``. The gradient
    keeps its accuracy far longer (it is what ``tol`` measures).

    So values are first *measured* (the objective's own, as scikit-learn's
    solvers use them). Once a step's measured change disagrees with the
    change its gradients predict (trapezoid rule: ``(g_0 + g_1) . d / 2``,
    exact for quadratics) by more than half, while both are at rounding
    level, values become *integrated*: each new point's value is the base
    iterate's plus that trapezoid estimate, so values are as accurate as the
    gradients. The switch happens in place: the base's value is the one the
    optimiser already holds. After a restart (see :func:`_run`) integrated
    values start from 0, so that changes far below the objective's own
    size are not absorbed by rounding.

    Parameters
    ----------
    problem : Standardized or BoundedView
        Has ``loss_gradient`` and ``value_eps``.
    """

    def __init__(self, problem):
        self.problem = problem
        self.integrated = False
        self.restart()

    def restart(self):
        """Forget the iterates: the next point evaluated is the new base.

        Integrated values then start from 0 (``from_zero``).
        """
        self._base = None
        self._recent = []
        self.from_zero = self.integrated

    def loss_gradient(self, x):
        loss, g = self.problem.loss_gradient(x)
        if self._base is None:
            value = 0.0 if self.integrated else loss
            self._base = (np.array(x), value, g)
        else:
            bx, bvalue, bg = self._base
            predicted = 0.5 * float((bg + g) @ (x - bx))
            if not self.integrated:
                rounding = math.sqrt(self.problem.value_eps) * max(abs(bvalue), 1.0)
                # Measured values at their rounding: integrate from here on,
                # from the base's measured value, which the optimiser holds.
                self.integrated = 0 < abs(predicted) <= rounding and abs(
                    (loss - bvalue) - predicted
                ) > 0.5 * abs(predicted)
            value = bvalue + predicted if self.integrated else loss
        self._recent = [*self._recent[-3:], (np.array(x), value, g)]
        return value, g

    def refined(self, x):
        """The passes became more precise at ``x``, the iterate just accepted.

        The optimiser holds ``x``'s value from the coarser passes, and the
        precise passes give values offset from those by their rounding, so
        values are integrated from here on, from ``x``'s value and its
        precise gradient.
        """
        self._recent = []
        if self._base is None or not same_point(self._base[0], x):
            return  # no step taken yet: the next point is the base
        _, g = self.problem.loss_gradient(x)
        self._base = (self._base[0], self._base[1], g)
        self.integrated = True

    def accept(self, x):
        """The optimiser moved to ``x`` (its callback): the next steps' base."""
        for point in reversed(self._recent):
            if same_point(point[0], x):
                self._base = point
                return


class _Monitor:
    """The per-iteration callback: verbose output and the shared stop test."""

    def __init__(self, problem, tol, verbose, values, restart_on_refine=False):
        self.problem = problem
        self.tol = tol
        self.verbose = verbose
        self.values = values
        self.restart_on_refine = restart_on_refine
        self.n_iter = 0
        self.converged = False
        # Set at the handover from the float32 copy to the data (measure).
        self.refined = False
        self.restart()

    def restart(self):
        self._best = np.inf
        self._best_x = None
        self._best_iter = 0
        self._run_iter = 0

    def best_point(self, x):
        """The iterate of the last run with the lowest measure, or ``x``.

        After the callback's stop, that is the point it tested (scipy's
        result may hold another).
        """
        if self._best_x is not None and (
            self.converged or self.problem.grad_max(x) > self._best
        ):
            return self._best_x
        return x

    def measure(self, x):
        """The optimality measure at ``x``, on the data themselves.

        On a float32 copy of the data (``problem.coarse``) the measure is
        taken from the copy's passes until it falls below ``tol``, or below
        ``_HANDOVER`` times the change the copy's rounding makes to it: the
        passes then return to the data and the measure is taken again, so
        that convergence is only ever declared on the data as given.
        """
        grad_max = self.problem.grad_max(x)
        if self.problem.coarse and grad_max <= max(
            self.tol, _HANDOVER * self.problem.gradient_rounding(x)
        ):
            self.problem.refine_precision()
            grad_max = self.problem.grad_max(x)
            self.values.refined(x)
            # The copy's measures are not comparable with the data's.
            self._best, self._best_x = np.inf, None
            self.refined = True
        return grad_max

    def __call__(self, intermediate_result):
        self.n_iter += 1
        self.values.accept(intermediate_result.x)
        grad_max = self.measure(intermediate_result.x)
        if self.verbose:
            print(
                f"iter {self.n_iter:4d}  loss {self.problem.last_loss:.10g}  "
                f"|grad|_max {grad_max:.3e}"
            )
        self._run_iter += 1
        if grad_max < self._best:
            self._best, self._best_iter = grad_max, self._run_iter
            self._best_x = np.array(intermediate_result.x)
        if grad_max <= self.tol:
            self.converged = True
            raise StopIteration
        if self.refined and self.restart_on_refine:
            # The optimiser keeps the copy's gradient at this point, which
            # Newton methods build every model of the step on (trust-ncg
            # rejected step after step with it): restart here, so that the
            # run sees the data's gradient.
            raise StopIteration
        # Integrated values always "decrease" a little, even when the
        # gradient is at its own rounding floor, which float32 scores put
        # within reach of common tolerances (float64's is ~1e-16). There a
        # run counts as stalled once it has gone as many iterations without
        # a new best measure as it took to reach that best (the largest
        # gradient entry is not monotone), and at least as many as L-BFGS
        # remembers; slow progress on a flat float64 problem runs on.
        patience = max(_STALL_ITERATIONS, self._best_iter)
        if (
            self.values.integrated
            and self.problem.value_eps > np.finfo(np.float64).eps
            and self._run_iter - self._best_iter >= patience
        ):
            raise StopIteration


def _run(method, problem, w0, tol, max_iter, verbose, options, hessp=True):
    """Minimise until the optimality measure meets ``tol`` or nothing helps.

    Returns ``(w, n_iter, converged, message)``; ``message`` says why the
    last run stopped. A run that stops above ``tol`` (line search failure,
    L-BFGS-B's ``ftol`` test, scipy's precision-loss stop) is restarted from
    its end point, each time with more accurate values: integrated values
    (see :class:`_Values`), then, for float32 data, float64 scores
    (:meth:`~softreg._objective.LinearObjective.refine_precision`). It stops
    when a restart no longer lowers the measure.
    """
    values = _Values(problem)
    # L-BFGS-B gets on with one stale gradient (it only enters one
    # correction pair); restarting would cost its memory.
    monitor = _Monitor(problem, tol, verbose, values, restart_on_refine=hessp)
    w0 = problem.project(w0)
    u = problem.to_u(w0)
    if max_iter == 0:
        # As LogisticRegression: no iteration, the start is the result.
        converged = problem.grad_max(u) <= tol
        return w0, 0, converged, "max_iter=0: no iteration was run"
    # Early passes on a float32 copy of float64 data, if there is memory for
    # it; the monitor returns to the data before any convergence test.
    memory = available_memory()
    problem.coarsen_precision(None if memory is None else memory // 2)
    # Start already converged (e.g. a warm start at the optimum): no step.
    if monitor.measure(u) <= tol:
        return w0, 0, True, "gradient already below tol at the start"
    monitor.refined = False  # handed over before the first run: nothing stale
    best = np.inf
    while True:
        values.restart()
        monitor.restart()
        run_options = {**options, "maxiter": max_iter - monitor.n_iter}
        if values.integrated and method == "L-BFGS-B":
            # Integrated values are small numbers accurate to the gradient's
            # precision: any decrease is real, so only "no decrease" stops.
            run_options["ftol"] = 0.0
        result = minimize(
            values.loss_gradient,
            u,
            method=method,
            jac=True,
            hessp=problem.hessp if hessp else None,
            bounds=problem.bounds,
            callback=monitor,
            options=run_options,
        )
        u, message = monitor.best_point(result.x), result.message
        if monitor.converged or monitor.n_iter >= max_iter:
            break
        if monitor.refined and monitor.restart_on_refine:
            monitor.refined = False
            continue
        if problem.coarse:
            # The copy's rounding stopped the run short of the handover:
            # go on from its end point on the data themselves.
            problem.refine_precision()
            continue
        # scipy's Newton-CG ends its inner CG, with a zero step, once the
        # curvature along the gradient is below an absolute 3 eps: near the
        # optimum of a weakly penalised problem that happens before the
        # gradient is small, and scipy then reports success. Scaling the
        # objective by a constant changes neither its minimiser nor the
        # Newton step, only that absolute test: restart, scaled.
        if method == "Newton-CG" and result.success and problem.factor < 1e12:
            problem.set_factor(problem.factor * 1e4)
            continue
        reached = problem.grad_max(u)
        if reached <= tol:
            break
        # Escalate: integrated values from 0, then float64 scores; at the
        # last level, restart only while restarts lower the measure.
        if not values.from_zero:
            values.integrated = True
        elif not problem.refine_precision() and reached >= best:
            break
        best = min(best, reached)
    problem.set_factor(1.0)
    if problem.coarse:  # max_iter reached on the copy
        problem.refine_precision()
    # The callback's test stands for the point it tested (no extra pass).
    reached = 0.0 if monitor.converged else problem.grad_max(u)
    converged = reached <= tol
    if not converged and monitor.n_iter < max_iter:
        message = (
            f"{message}; the objective cannot decrease further in floating point "
            f"(largest {problem.measure} {reached:.3g} > tol={tol:g})"
        )
    elif not converged:
        message = f"{message}; largest {problem.measure} {reached:.3g} > tol={tol:g}"
    return problem.to_w(u), max(monitor.n_iter, 1), converged, message


def _caller_stacklevel():
    """``stacklevel`` that points a warning at the code that called ``fit``.

    Skips softreg's own frames and scikit-learn's ``_fit_context`` wrapper,
    however many of them there are between the warning and the caller.
    """
    package = os.path.dirname(os.path.abspath(__file__))
    level, frame = 1, sys._getframe(1)
    while frame is not None:
        name = frame.f_code.co_filename
        internal = name.startswith(package) or (
            frame.f_code.co_name == "wrapper"
            and name.endswith(os.path.join("sklearn", "base.py"))
        )
        if not internal:
            break
        level += 1
        frame = frame.f_back
    return level


_DEFERRED = threading.local()


@contextmanager
def deferred_convergence_warnings():
    """Collect the ConvergenceWarnings of this thread's fits instead of issuing them.

    For fits run in worker threads (:class:`~softreg.SoftmaxRegressionCV`'s
    folds): a warning issued there would point at the thread pool's code,
    and :func:`warnings.catch_warnings` is not thread-safe. The caller
    re-issues the collected messages with :func:`reissue_convergence_warnings`
    from its own thread, where they point at the user's line.

    Yields
    ------
    messages : list of str
    """
    saved = getattr(_DEFERRED, "messages", None)
    _DEFERRED.messages = messages = []
    try:
        yield messages
    finally:
        _DEFERRED.messages = saved


def reissue_convergence_warnings(messages):
    """Issue collected messages once each, pointing at the code that called fit."""
    for message in dict.fromkeys(messages):
        warnings.warn(message, ConvergenceWarning, stacklevel=_caller_stacklevel())


def _warn(name, n_iter, message):
    text = (
        f"{name} did not converge ({message}) after {n_iter} iterations. "
        "Increase max_iter, loosen tol, or try another solver."
    )
    deferred = getattr(_DEFERRED, "messages", None)
    if deferred is not None:
        deferred.append(text)
        return
    warnings.warn(text, ConvergenceWarning, stacklevel=_caller_stacklevel())


def minimize_lbfgs(objective, w0, *, tol, max_iter, verbose=0, standardize=True):
    """Minimise with L-BFGS-B using scikit-learn's LogisticRegression settings.

    Needs only ``objective.loss_gradient``.

    Parameters
    ----------
    objective : LinearObjective
        Provides ``loss_gradient(w) -> (loss, grad)``.
    w0 : ndarray of shape (n_params,)
        Start point, float64.
    tol : float
        Stop when the largest absolute gradient entry (in ``W``, ``b``) is
        at most ``tol``; with an L1 part or bounds in ``objective.penalty``,
        the largest violation of the bounded problem's optimality
        conditions (the projected gradient, see :mod:`softreg._split`).
    max_iter : int
        Iteration limit; reaching it raises a ConvergenceWarning. 0 returns
        the start (made feasible), with the warning.
    verbose : int, default=0
        Print one line per iteration if positive.
    standardize : bool, default=True
        Optimise in standardised variables (:class:`Standardized`).

    Returns
    -------
    w : ndarray of shape (n_params,)
    n_iter : int
    """
    # With L1 or bounds: the split, bounded view (see softreg._split).
    problem = bounded(Standardized(objective, standardize), objective.penalty)
    w, n_iter, converged, message = _run(
        "L-BFGS-B",
        problem,
        w0,
        tol,
        max_iter,
        verbose,
        # As in LogisticRegression: a longer line search and an ftol at
        # machine precision, so that the gradient test alone decides (scipy's
        # own gtol is off: it would test the gradient in u, not in W).
        options={
            "maxiter": max_iter,
            "maxls": 50,
            "gtol": 0.0,
            "ftol": 64 * np.finfo(float).eps,
        },
        hessp=False,
    )
    if not converged:
        _warn("L-BFGS-B", n_iter, message)
    return w, n_iter


def minimize_newton_cg(objective, w0, *, tol, max_iter, verbose=0, standardize=True):
    """Minimise with scipy's line-search Newton-CG and exact Hessian products.

    Needs ``objective.loss_gradient`` and ``objective.hessp``, hence the
    normalizer's ``hessp``. Parameters and returns as :func:`minimize_lbfgs`.
    """
    problem = Standardized(objective, standardize)
    w, n_iter, converged, message = _run(
        "Newton-CG",
        problem,
        w0,
        tol,
        max_iter,
        verbose,
        # The step-size test only ends the run once steps vanish at machine
        # precision; the gradient test is the real one.
        options={"maxiter": max_iter, "xtol": 1e-16},
    )
    if not converged:
        _warn("Newton-CG", n_iter, message)
    return w, n_iter


def minimize_trust_ncg(objective, w0, *, tol, max_iter, verbose=0, standardize=True):
    """Minimise with scipy's trust-region Newton-CG (Steihaug) method.

    Needs ``objective.loss_gradient`` and ``objective.hessp``, hence the
    normalizer's ``hessp``. Parameters and returns as :func:`minimize_lbfgs`.
    """
    problem = Standardized(objective, standardize)
    w, n_iter, converged, message = _run(
        "trust-ncg",
        problem,
        w0,
        tol,
        max_iter,
        verbose,
        options={"maxiter": max_iter, "gtol": 0.0},
    )
    if not converged:
        _warn("trust-ncg", n_iter, message)
    return w, n_iter


#: Solver name -> callable(objective, w0, *, tol, max_iter, verbose) -> (w, n_iter).
#: Each has ``requires``, the optional normalizer methods it needs.
SOLVERS = {
    "lbfgs": _Solver("lbfgs", minimize_lbfgs, bounds=True),
    "newton-cg": _Solver(
        "newton-cg", minimize_newton_cg, ("hessp",), n_vectors=_NEWTON_VECTORS
    ),
    "trust-ncg": _Solver(
        "trust-ncg", minimize_trust_ncg, ("hessp",), n_vectors=_NEWTON_VECTORS
    ),
}
