"""Child process: one competitor on one arch, timed, with the error of the numbers it compares.

    python -m tests.bench.competitors METHOD ARCH [--runs 3] [--threads N]

Prints JSON lines as it goes, so that the parent (`tests.bench.boxed`) can kill it at the time
box and still keep what finished: ``{"event": "ready"}`` after the imports, then the first call:
if it took over `LONG_RUN` seconds it is the one ``{"event": "run", "seconds": s}``, otherwise it
was a warm-up (``"warmup"``; torch's and jax's first calls pay for dispatch caches and tracing)
and ``--runs`` timed runs follow. Last, ``{"event": "result", ...}`` with the error.

Methods, all on the reference problem (float64, the function J(W1, b1, ..., WL, bL) with X, Y
fixed) and each measured against ``reference.backward``:

- ``gradcheck``, ``gradcheck_fast``: ``torch.autograd.gradcheck`` with the parameters as a tuple of
  inputs (full, and ``fast_mode=True``). Error of the numbers gradcheck compares: the numerical
  Jacobian it computes (captured from its internal ``_get_numerical_jacobian``), max|Δ|/max|g|
  per tensor; fast mode: its numerical v·(J u) per input tensor against v·(g·u), relative to
  |v|·‖g‖·‖u‖.
- ``check_grads``: ``jax.test_util.check_grads(order=1, modes=("rev",))`` with jax_enable_x64.
  Error of its numerical JVP (captured from ``numerical_jvp``) against g·t, relative to ‖g‖·‖t‖.
- ``numdifftools``: ``numdifftools.Gradient`` (defaults: central, Richardson) on the flattened
  parameters; max|Δ|/max|g| per tensor.
- ``naive_sympy``: every weight, bias, input and target a SymPy symbol; the scalar loss fully
  expanded, ``diff`` by each parameter, numbers substituted only at the end.

``autodiff_error`` is the error of torch.autograd.grad / jax.grad themselves (the other side of
the comparison).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import reference
from tests.bench.problems import problem_of, rel_error

LONG_RUN = 30.0  # seconds: a run this long is not repeated
METHODS = ("gradcheck", "gradcheck_fast", "check_grads", "numdifftools", "naive_sympy")


def emit(**record: Any) -> None:
    print(json.dumps(record), flush=True)


def _shapes(problem: Any) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    return [(W.shape, b.shape) for W, b in problem.params]


def _unflat(
    theta: Any, shapes: list[tuple[tuple[int, ...], tuple[int, ...]]]
) -> list[tuple[Any, Any]]:
    out, at = [], 0
    for shape_W, shape_b in shapes:
        n_W, n_b = int(np.prod(shape_W)), int(np.prod(shape_b))
        out.append((theta[at : at + n_W].reshape(shape_W), theta[at + n_W : at + n_W + n_b]))
        at += n_W + n_b
    return out


# --- torch ---------------------------------------------------------------------------------------


def _torch(
    problem: Any, fast: bool, threads: int | None, ref: Any
) -> tuple[Callable[[], Any], Callable[[], dict[str, Any]]]:
    import torch

    if threads:
        torch.set_num_threads(threads)
    gc = importlib.import_module("torch.autograd.gradcheck")  # the module, not the function
    X, Y = torch.tensor(problem.X), torch.tensor(problem.Y)  # copies: the problem is read-only
    m, acts = problem.batch, problem.spec.activations
    inputs = tuple(
        torch.tensor(t, dtype=torch.float64, requires_grad=True)
        for pair in problem.params
        for t in pair
    )

    def J(*flat: Any) -> Any:
        A = X
        for l, name in enumerate(acts):
            Z = flat[2 * l] @ A + flat[2 * l + 1][:, None]
            A = torch.tanh(Z) if name == "tanh" else torch.sigmoid(Z)
        return ((A - Y) ** 2).sum() / m

    captured: dict[str, Any] = {}

    def capture(name: str) -> None:
        original = getattr(gc, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            out = original(*args, **kwargs)
            captured.setdefault(name, (out, args))
            return out

        setattr(gc, name, wrapper)

    for name in ("_get_numerical_jacobian", "_make_vectors", "_get_numerical_vJu"):
        capture(name)

    def run() -> Any:
        return torch.autograd.gradcheck(J, inputs, fast_mode=fast)

    def error() -> dict[str, Any]:
        grads = torch.autograd.grad(J(*inputs), inputs)
        pairs = [(grads[2 * l].numpy(), grads[2 * l + 1].numpy()) for l in range(len(acts))]
        result = {"autodiff_error": rel_error(pairs, ref)}
        flat_ref = [t for pair in ref for t in pair]
        if not fast:
            numerical, _ = captured["_get_numerical_jacobian"]  # per input: (jacobian per output,)
            est = [
                per_input[0].numpy().reshape(t.shape) for per_input, t in zip(numerical, flat_ref)
            ]
            result["error"] = rel_error(list(zip(est[::2], est[1::2])), ref)
            result["error_of"] = "numerical Jacobian (gradcheck's _get_numerical_jacobian)"
        else:
            (all_v, all_u, _), _ = captured["_make_vectors"]
            vJu, _ = captured["_get_numerical_vJu"]  # per input: [v·(J u) per output]
            v = float(all_v[0].reshape(-1)[0])
            worst = 0.0
            for per_input, u, g in zip(vJu, all_u, flat_ref):
                u64 = u.numpy().reshape(g.shape)
                exact = v * float(np.sum(g * u64))
                scale = abs(v) * float(np.linalg.norm(g) * np.linalg.norm(u64))
                worst = max(worst, abs(float(per_input[0]) - exact) / max(scale, 1e-300))
            result["error"] = worst
            result["error_of"] = "numerical v·(J u) per input tensor, relative to |v|·‖g‖·‖u‖"
        return result

    return run, error


# --- jax -----------------------------------------------------------------------------------------


def _jax(problem: Any, ref: Any) -> tuple[Callable[[], Any], Callable[[], dict[str, Any]]]:
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    from jax._src import public_test_util
    from jax.test_util import check_grads

    X, Y = jnp.asarray(problem.X), jnp.asarray(problem.Y)
    m, acts = problem.batch, problem.spec.activations
    args = tuple(jnp.asarray(t) for pair in problem.params for t in pair)

    def J(*flat: Any) -> Any:
        A = X
        for l, name in enumerate(acts):
            Z = flat[2 * l] @ A + flat[2 * l + 1][:, None]
            A = jnp.tanh(Z) if name == "tanh" else jax.nn.sigmoid(Z)
        return jnp.sum((A - Y) ** 2) / m

    captured: dict[str, Any] = {}
    original = public_test_util.numerical_jvp

    def numerical_jvp(f: Any, primals: Any, tangents: Any, eps: Any = public_test_util.EPS) -> Any:
        out = original(f, primals, tangents, eps=eps)
        captured.setdefault("jvp", (tangents, out))
        return out

    public_test_util.numerical_jvp = numerical_jvp

    def run() -> Any:
        return check_grads(J, args, order=1, modes=("rev",))

    def error() -> dict[str, Any]:
        grads = jax.grad(J, argnums=tuple(range(len(args))))(*args)
        pairs = [(np.asarray(grads[2 * l]), np.asarray(grads[2 * l + 1])) for l in range(len(acts))]
        tangents, out = captured["jvp"]
        flat_ref = [t for pair in ref for t in pair]
        exact = sum(float(np.sum(g * np.asarray(t))) for g, t in zip(flat_ref, tangents))
        scale = np.sqrt(sum(float(np.sum(g**2)) for g in flat_ref))
        scale *= np.sqrt(sum(float(np.sum(np.asarray(t) ** 2)) for t in tangents))
        return {
            "error": abs(float(out) - exact) / max(float(scale), 1e-300),
            "error_of": "numerical JVP g·t (check_grads' numerical_jvp), relative to ‖g‖·‖t‖",
            "autodiff_error": rel_error(pairs, ref),
        }

    return run, error


# --- numdifftools and naive SymPy ----------------------------------------------------------------


def _numdifftools(problem: Any, ref: Any) -> tuple[Callable[[], Any], Callable[[], dict[str, Any]]]:
    import numdifftools as nd

    shapes, X, Y, m = _shapes(problem), problem.X, problem.Y, problem.batch
    acts = problem.spec.activations
    theta0 = np.concatenate([t.ravel() for pair in problem.params for t in pair])

    def J(theta: Any) -> float:
        A = X
        for (W, b), name in zip(_unflat(theta, shapes), acts):
            Z = W @ A + b[:, None]
            A = np.tanh(Z) if name == "tanh" else 1.0 / (1.0 + np.exp(-Z))
        return float(np.sum((A - Y) ** 2) / m)

    result: dict[str, Any] = {}

    def run() -> Any:
        result.setdefault("grad", nd.Gradient(J)(theta0))

    def error() -> dict[str, Any]:
        grads = _unflat(np.asarray(result["grad"], dtype=np.float64), shapes)
        return {"error": rel_error(grads, ref), "error_of": "the gradient it returns"}

    return run, error


def _naive_sympy(problem: Any, ref: Any) -> tuple[Callable[[], Any], Callable[[], dict[str, Any]]]:
    import sympy as sp

    sizes, m, acts = problem.spec.sizes, problem.batch, problem.spec.activations
    result: dict[str, Any] = {}

    def run() -> Any:
        values: dict[Any, float] = {}
        Ws, bs = [], []
        for l, (W, b) in enumerate(problem.params, start=1):
            Ws.append(sp.Matrix(*W.shape, lambda i, k, l=l: sp.Symbol(f"W{l}_{i}_{k}")))
            bs.append(sp.Matrix(b.shape[0], 1, lambda i, _, l=l: sp.Symbol(f"b{l}_{i}")))
            values.update(zip(Ws[-1], W.ravel().tolist()))
            values.update(zip(bs[-1], b.tolist()))
        Xs = sp.Matrix(sizes[0], m, lambda k, s: sp.Symbol(f"x_{k}_{s}"))
        Ys = sp.Matrix(sizes[-1], m, lambda j, s: sp.Symbol(f"y_{j}_{s}"))
        values.update(zip(Xs, problem.X.ravel().tolist()))
        values.update(zip(Ys, problem.Y.ravel().tolist()))
        A = Xs
        for W, b, name in zip(Ws, bs, acts):
            Z = W * A + b * sp.ones(1, m)
            A = Z.applyfunc(sp.tanh if name == "tanh" else lambda z: 1 / (1 + sp.exp(-z)))
        loss = sp.expand(sum((a - y) ** 2 for a, y in zip(A, Ys)) / m)
        grads = []
        for W, b in zip(Ws, bs):
            dW = [float(sp.diff(loss, w).subs(values).evalf()) for w in W]
            db = [float(sp.diff(loss, c).subs(values).evalf()) for c in b]
            grads.append((np.array(dW).reshape(W.shape), np.array(db)))
        result.setdefault("grads", grads)

    def error() -> dict[str, Any]:
        return {"error": rel_error(result["grads"], ref), "error_of": "the gradient it returns"}

    return run, error


def _timed(run: Callable[[], Any]) -> tuple[float, bool | str | None]:
    """Seconds of one run, and its outcome: True/False, None (no verdict), or what it raised."""
    start = time.perf_counter()
    try:
        outcome: Any = run()
    except Exception as exc:  # a check that fails still took its time: record both
        outcome = f"raised {type(exc).__name__}: {str(exc)[:300]}"
    seconds = time.perf_counter() - start
    if outcome is not None and not isinstance(outcome, str):
        outcome = bool(outcome)
    return seconds, outcome


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("method", choices=METHODS)
    parser.add_argument("arch")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    problem = problem_of(args.arch)
    spec = problem.spec
    ref = reference.backward(problem.params, problem.X, problem.Y, spec.activations, spec.loss)
    start = time.perf_counter()
    if args.method.startswith("gradcheck"):
        run, error = _torch(problem, args.method == "gradcheck_fast", args.threads, ref)
    elif args.method == "check_grads":
        run, error = _jax(problem, ref)
    elif args.method == "numdifftools":
        run, error = _numdifftools(problem, ref)
    else:
        run, error = _naive_sympy(problem, ref)
    emit(event="ready", import_s=time.perf_counter() - start)
    seconds, outcome = _timed(run)
    if seconds > LONG_RUN:  # one run is the figure: a warm-up is negligible beside it
        emit(event="run", seconds=seconds, outcome=outcome)
    else:  # that was the warm-up (torch/jax first-call costs), as ours get one
        emit(event="warmup", seconds=seconds, outcome=outcome)
        for _ in range(args.runs):
            seconds, outcome = _timed(run)
            emit(event="run", seconds=seconds, outcome=outcome)
    emit(event="result", **error())


if __name__ == "__main__":
    sys.exit(main())
