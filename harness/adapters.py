"""Adapters: other conventions turned into the plug-in contract of DESIGN.md.

Every adapter returns a function ``backward(params, X, Y, activations, loss) -> [(dW1, db1), ...]``
(columns are samples: X (n0, m), W^(l) (n_l, n_{l-1}), b^(l) (n_l,)) that carries its declared
support as a plain dict attribute, like scikit-learn's estimator tags::

    backward.supports == {"activations": ("tanh", "sigmoid"), "losses": ("bce",)}

``from_flat`` adds ``"specs": (NetworkSpec(...),)``: it runs on one architecture only. Called
outside its support, an adapted function raises `NotImplementedError`, which the harness records
as "unsupported", never as a failure. Inside it, whatever the wrapped code returns reaches the
harness as it is, only translated: a wrong shape stays wrong, a float32 stays float32, so the
harness's own shape, dtype and value findings speak about the user's code.

- `from_rows`: a backprop written with rows as samples (X_rows (m, n0), W_rows (n_{l-1}, n_l)).
- `from_columns`: the contract's layout with biases kept as (n, 1) columns (or (1, n) rows).
- `from_flat`: ``grad(theta, X, Y) -> dtheta`` on one flat parameter vector.
- `from_per_sample`: ``backprop(x, y) -> (nabla_b, nabla_w)`` for one sample (Nielsen's style).
- `from_dict`: a dict of parameters and ``loss(X, y) -> (loss, grads)`` (cs231n's style).
- `from_layers`: layer objects whose ``backward`` leaves ``dW`` and ``db`` on them.
- `from_torch`: torch.autograd on an ``nn.Sequential`` (audits autograd itself, or your module).
- `from_jax`: ``jax.grad`` of the loss written in jax.numpy (or of your own loss function).

torch and jax are optional (``pip install jax``; torch's CPU build on Linux: ``pip install torch
--index-url https://download.pytorch.org/whl/cpu``) and are imported only when their adapter is
made.
"""

from __future__ import annotations

import importlib
import inspect
import itertools
import threading
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from typing import Any, Final, Protocol, cast

import numpy as np

from harness.errors import HarnessError
from harness.network import ACTIVATIONS, LOSSES, Array, Params, leaky_slope, parse_activation
from harness.replay import Recipe
from harness.spec import Loss, NetworkSpec
from harness.strategies import SEED_ACTIVATIONS

__all__ = [
    "BIASES",
    "QUADRATIC_COST",
    "TORCH_SOFTPLUS_THRESHOLD",
    "AdaptedBackward",
    "AdapterError",
    "MissingDependencyError",
    "from_columns",
    "from_dict",
    "from_flat",
    "from_jax",
    "from_layers",
    "from_per_sample",
    "from_rows",
    "from_torch",
]

#: torch's ``nn.Softplus`` returns z itself above ``threshold`` (default 20, where σ(20) differs
#: from 1 by 2e-9: an audit would rightly flag it). Above 40 the linearization *is* the correctly
#: rounded value: e^-40 < 2^-54, so softplus(z) rounds to z and σ(z) to 1. No larger threshold:
#: exp overflows above 709 and torch's backward then returns inf/inf = NaN.
TORCH_SOFTPLUS_THRESHOLD: Final = 40.0
#: Nielsen's per-sample quadratic cost ½‖a − y‖² (`from_per_sample`'s default loss).
QUADRATIC_COST: Final = Loss("mse", half=True)


class AdapterError(HarnessError, ValueError):
    """An adapter given arguments that cannot work (a bad layout, a module of the wrong shape)."""


class MissingDependencyError(HarnessError, ImportError):
    """An adapter's optional dependency (torch, jax) is not installed."""


class AdaptedBackward(Protocol):
    """The plug-in contract, plus the declared ``supports`` dict."""

    supports: dict[str, tuple[Any, ...]]

    def __call__(
        self, params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str
    ) -> Any: ...


def _declare(
    backward: Callable[..., Any], supports: dict[str, tuple[Any, ...]], recipe: Recipe
) -> AdaptedBackward:
    backward.supports = supports  # type: ignore[attr-defined]
    backward.recipe = recipe  # type: ignore[attr-defined]  # how a reproduce line rebuilds it
    return cast(AdaptedBackward, backward)


def _recipe(
    adapter: Callable[..., Any],
    arguments: tuple[Any, ...],
    options: Mapping[str, Any],
    cli: tuple[str, ...] | None = None,
) -> Recipe:
    """`harness.replay.Recipe` of ``adapter(*arguments, **options)``, keeping only the options
    that differ from the adapter's defaults."""
    defaults = {name: p.default for name, p in inspect.signature(adapter).parameters.items()}
    given = {
        name: value
        for name, value in options.items()
        if defaults.get(name, inspect.Parameter.empty) is inspect.Parameter.empty
        or not _same(value, defaults[name])
    }
    return Recipe(adapter.__name__, arguments, given, cli)


def _same(value: Any, default: Any) -> bool:
    try:
        return bool(value is default or (type(value) is type(default) and value == default))
    except Exception:  # an array: == is elementwise
        return False


class _Remade:
    """An adapted backward that crosses to the worker process (`harness.isolation`) as the call
    that made it, ``factory(*args, **kwargs)``, not as its state: torch's and jax's adapters keep
    a lock, built modules and jit-compiled functions that cannot be pickled (and jax's float64
    switch must be set in the worker too). The user's own functions in ``args`` travel by value
    (cloudpickle)."""

    def __init__(
        self,
        backward: Callable[..., Any],
        declared: dict[str, tuple[Any, ...]],
        factory: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        self.__wrapped__ = backward  # harness.worker.name_of names the wrapped function
        self.supports = declared
        self._recipe = (factory, args, kwargs)
        self.recipe = _recipe(factory, tuple(a for a in args if a is not None), kwargs)

    def __call__(
        self, params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str
    ) -> Any:
        return self.__wrapped__(params, X, Y, activations, loss)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_remake, self._recipe)


def _remake(factory: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return factory(*args, **kwargs)


def _support(
    supports: Mapping[str, Sequence[str]] | None, who: str, *, everything: bool = False
) -> dict[str, tuple[Any, ...]]:
    """Validate a user's ``supports=``; None means the seeds' six activations with mse and bce
    (what an undeclared function is audited on, `harness.support`), or every activation and
    loss when ``everything`` (torch and jax build each of them themselves)."""
    declared = dict(supports) if supports is not None else {}
    if not everything:
        declared.setdefault("activations", SEED_ACTIVATIONS)
        declared.setdefault("losses", ("mse", "bce"))
    unknown = set(declared) - {"activations", "losses"}
    if unknown:
        raise AdapterError(f"{who}: supports has unknown keys {sorted(unknown)}")
    if any(isinstance(declared.get(key), str) for key in ("activations", "losses")):
        raise AdapterError(f"{who}: supports values are sequences of names, got {declared!r}")
    activations = tuple(declared.get("activations", ACTIVATIONS))
    losses = tuple(declared.get("losses", LOSSES))
    for name in activations:
        if not isinstance(name, str) or parse_activation(name) is None:
            raise AdapterError(
                f"{who}: supports names {name!r}; known: {', '.join(ACTIVATIONS)}, leaky_relu(α)"
            )
    for name in losses:
        if name not in LOSSES:
            raise AdapterError(f"{who}: supports names {name!r}; known: {', '.join(LOSSES)}")
    canonical = tuple(str(parse_activation(name)) for name in activations)
    return {"activations": canonical, "losses": losses}


def _own(
    supports: Mapping[str, Sequence[str]] | None, wrapped: Callable[..., Any], who: str
) -> Mapping[str, Sequence[str]] | None:
    """``supports``, or else what the wrapped function declares as its ``.supports``."""
    if supports is not None:
        return supports
    own = getattr(wrapped, "supports", None)
    if own is None:
        return None
    if not isinstance(own, Mapping) or set(own) - {"activations", "losses"}:
        raise AdapterError(
            f"{who}: the function's .supports {own!r} declares more than activations and "
            f"losses; pass supports= to the adapter with those two"
        )
    return own


def _require(supports: dict[str, tuple[Any, ...]], activations: Sequence[str], loss: str) -> None:
    outside = [a for a in activations if a not in supports["activations"]]
    if outside or loss not in supports["losses"]:
        raise NotImplementedError(
            f"declared support is activations {supports['activations']}, losses "
            f"{supports['losses']}; this problem needs activations {tuple(activations)}, "
            f"loss {loss!r}"
        )


# --- rows as samples -----------------------------------------------------------------------------


BIASES: Final = ("vector", "column", "row")


def _check_bias(bias: str, who: str) -> str:
    if bias not in BIASES:
        raise AdapterError(
            f"{who}: bias must be 'vector' (n,), 'column' (n, 1) or 'row' (1, n), got {bias!r}"
        )
    return bias


def _bias_in(b: Array, bias: str) -> Array:
    return b if bias == "vector" else (b[:, None] if bias == "column" else b[None, :])


def _bias_out(db: Any, bias: str) -> Any:
    """A (n, 1) column or (1, n) row bias gradient as the contract's (n,), when that is the
    declared form; anything else is left as it is for the harness to report."""
    if bias == "vector" or not isinstance(db, np.ndarray) or db.ndim != 2:
        return db
    if bias == "column" and db.shape[1] == 1:
        return db[:, 0]
    if bias == "row" and db.shape[0] == 1:
        return db[0]
    return db


def _dW_from_rows(dW_rows: Any) -> Any:
    """A rows-layout dW (n_{l-1}, n_l) as the contract's (n_l, n_{l-1}); anything that is not a
    2-D array is left as it is for the harness to report."""
    return dW_rows.T if isinstance(dW_rows, np.ndarray) and dW_rows.ndim == 2 else dW_rows


def _pairs_out(output: Any, transform: Callable[[Any, Any], tuple[Any, Any]]) -> Any:
    """Apply ``transform(dW, db)`` to each pair of a list of pairs; anything that is not one
    (a bare array, a pair of three) passes through untouched for the harness to report."""
    if isinstance(output, np.ndarray) or not isinstance(output, Sequence):
        return output
    back: list[Any] = []
    for pair in output:
        if isinstance(pair, np.ndarray) or not isinstance(pair, Sequence) or len(pair) != 2:
            back.append(pair)
            continue
        back.append(transform(*pair))
    return back


def from_rows(
    backward_rows: Callable[..., Any],
    *,
    supports: Mapping[str, Sequence[str]] | None = None,
    bias: str = "vector",
) -> AdaptedBackward:
    """Adapt ``backward_rows(params_rows, X_rows, Y_rows, activations, loss)``, rows as samples.

    It receives ``params_rows = [(W_rows, b), ...]`` with ``W_rows = W.T`` of shape
    (n_{l-1}, n_l) (so ``Z_rows = X_rows @ W_rows + b``), ``X_rows`` (m, n0), ``Y_rows`` (m, nL),
    and returns ``[(dW_rows (n_{l-1}, n_l), db (n_l,)), ...]``; ``bias="row"`` passes and takes
    b as (1, n_l), ``"column"`` as (n_l, 1). Inputs are transposed *views* of the harness's
    copies, so writing into them is still seen as mutating the inputs. On the way back only 2-D
    ``dW_rows`` arrays are transposed and only biases of the declared form flattened; anything
    else (a 1-D dW, a list that is not pairs) passes through for the harness to report.
    ``supports`` defaults to the function's own ``.supports`` (activations and losses), else to
    the seeds' six activations with mse and bce.
    """
    declared = _support(_own(supports, backward_rows, "from_rows"), "from_rows")
    _check_bias(bias, "from_rows")

    def back(dW_rows: Any, db: Any) -> tuple[Any, Any]:
        return (_dW_from_rows(dW_rows), _bias_out(db, bias))

    def backward(params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str) -> Any:
        _require(declared, activations, loss)
        params_rows = [(W.T, _bias_in(b, bias)) for W, b in params]
        return _pairs_out(backward_rows(params_rows, X.T, Y.T, activations, loss), back)

    backward.__wrapped__ = backward_rows  # type: ignore[attr-defined]  # names the user's code
    cli = ("--layout", "rows", *(() if bias == "vector" else ("--bias", bias)))
    made = _recipe(from_rows, (backward_rows,), {"supports": supports, "bias": bias}, cli)
    return _declare(backward, declared, made)


def from_columns(
    backward_columns: Callable[..., Any],
    *,
    bias: str = "column",
    supports: Mapping[str, Sequence[str]] | None = None,
) -> AdaptedBackward:
    """Adapt a backprop in the contract's layout (columns as samples) that keeps its biases as
    (n_l, 1) columns (``bias="column"``, the default) or (1, n_l) rows: it receives them so and
    may return them so. ``supports`` as in `from_rows`."""
    declared = _support(_own(supports, backward_columns, "from_columns"), "from_columns")
    _check_bias(bias, "from_columns")

    def backward(params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str) -> Any:
        _require(declared, activations, loss)
        given = [(W, _bias_in(b, bias)) for W, b in params]
        output = backward_columns(given, X, Y, activations, loss)
        return _pairs_out(output, lambda dW, db: (dW, _bias_out(db, bias)))

    backward.__wrapped__ = backward_columns  # type: ignore[attr-defined]  # names the user's code
    cli = () if bias == "vector" else ("--bias", bias)
    options = {"bias": bias, "supports": supports}
    return _declare(backward, declared, _recipe(from_columns, (backward_columns,), options, cli))


# --- dict parameters and a loss-and-grads function -----------------------------------------------


def from_dict(
    loss_and_grads: Callable[..., Any],
    *,
    activations: Sequence[str],
    loss: Loss | str = "cross_entropy",
    l2: float = 0.0,
    params: MutableMapping[str, Any] | None = None,
    keys: tuple[str, str] = ("W{l}", "b{l}"),
    layout: str = "rows",
    labels: str = "int",
    returns: str = "loss,grads",
) -> AdaptedBackward:
    """Adapt a model kept as a dict of parameters with a ``loss(X, y) -> (loss, grads)`` function
    (cs231n's style): it is audited on networks of ``len(activations)`` layers with those
    activations (e.g. ``("relu", "softmax")`` for affine-relu-affine-softmax), that ``loss``
    (a name or a `harness.Loss`; cross-entropy by default) and L2 ``l2`` (cs231n's
    ``0.5 * reg * Σ W²`` is ``l2=reg``).

    Before each call the parameters are written into ``params`` (default: the ``params`` dict of
    the object whose method ``loss_and_grads`` is) under ``keys`` (``"W1"``, ``"b1"``, ...;
    1-based, formatted with ``l``). ``layout="rows"`` stores W as (n_in, n_out) and passes X as
    (m, n0); ``"columns"`` is the contract's. ``labels="int"`` passes y as integer class labels
    (the one-hot Y's argmax), ``"onehot"`` passes Y itself. ``returns="grads"`` for a function
    that returns the grads dict alone. The grads dict must hold the same keys.
    """
    if layout not in ("rows", "columns"):
        raise AdapterError(f"from_dict: layout must be 'rows' or 'columns', got {layout!r}")
    if labels not in ("int", "onehot"):
        raise AdapterError(f"from_dict: labels must be 'int' or 'onehot', got {labels!r}")
    if returns not in ("loss,grads", "grads"):
        raise AdapterError(f"from_dict: returns must be 'loss,grads' or 'grads', got {returns!r}")
    if not all(isinstance(key, str) and "{l}" in key for key in keys) or len(keys) != 2:
        raise AdapterError(f"from_dict: keys must be two patterns with {{l}}, got {keys!r}")
    store = (
        params
        if params is not None
        else getattr(getattr(loss_and_grads, "__self__", None), "params", None)
    )
    if not isinstance(store, MutableMapping):
        raise AdapterError(
            "from_dict: no parameter dict to write into: pass params=model.params (or give the "
            "bound method model.loss of an object with a .params dict)"
        )
    declared_loss = loss if isinstance(loss, Loss) else Loss(loss)
    names = tuple(activations)
    declared = _support({"activations": names, "losses": (declared_loss.name,)}, "from_dict")
    declared.update(losses=(declared_loss,), l2=(float(l2),), depths=(len(names),))
    W_key, b_key = keys

    def backward(params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str) -> Any:
        if tuple(activations) != names or loss != declared_loss.name:
            raise NotImplementedError(
                f"from_dict declares activations {names} and {declared_loss!r}; this problem "
                f"is {tuple(activations)}, {loss!r}"
            )
        for l, (W, b) in enumerate(params, start=1):
            store[W_key.format(l=l)] = W.T.copy() if layout == "rows" else W.copy()
            store[b_key.format(l=l)] = b.copy()
        if labels == "int":
            if not np.all(np.isin(Y, (0.0, 1.0))) or not np.all(Y.sum(axis=0) == 1):
                raise NotImplementedError("integer labels need one-hot targets Y")
            y: Array = Y.argmax(axis=0)
        else:
            y = Y.T.copy() if layout == "rows" else Y
        output = loss_and_grads(X.T.copy() if layout == "rows" else X, y)
        grads = output[1] if returns == "loss,grads" else output
        if not isinstance(grads, Mapping):
            where = " as the second value" if returns == "loss,grads" else ""
            raise TypeError(
                f"from_dict: expected a dict of gradients{where}, got {type(grads).__name__}"
            )
        pairs = []
        for l in range(1, len(params) + 1):
            dW, db = grads[W_key.format(l=l)], grads[b_key.format(l=l)]
            pairs.append((_dW_from_rows(dW) if layout == "rows" else dW, db))
        return pairs

    backward.__wrapped__ = loss_and_grads  # type: ignore[attr-defined]  # names the user's code
    options = {"activations": names, "loss": loss, "l2": l2, "params": params, "keys": keys,
               "layout": layout, "labels": labels, "returns": returns}  # fmt: skip
    return _declare(backward, declared, _recipe(from_dict, (loss_and_grads,), options))


# --- layer objects with forward and backward methods --------------------------------------------


def from_layers(
    layers: Callable[[tuple[int, ...], tuple[str, ...]], Sequence[Any]],
    loss_grad: Callable[[Any, Any], Any],
    *,
    supports: Mapping[str, Sequence[str]] | None = None,
    layout: str = "rows",
    bias: str = "row",
    attributes: tuple[str, str, str, str] = ("W", "b", "dW", "db"),
    forward: str = "forward",
    backward: str = "backward",
) -> AdaptedBackward:
    """Adapt a network of layer objects (numpy-ml, ML-From-Scratch): ``layers(sizes,
    activations)`` builds the list (dense layers and activation layers, in order); the dense
    ones, those with a ``W`` attribute, get the parameters; ``layer.forward(A)`` runs the batch
    forward, ``loss_grad(A_out, Y)`` (your loss's gradient, with its 1/m) starts the backward
    pass, ``layer.backward(dA)`` returns the gradient for the layer below and leaves ``dW`` and
    ``db`` on the dense layers, where they are read.

    ``layout="rows"``: X (m, n0), W stored (n_in, n_out), b as a (1, n_out) row (``bias=``
    "row", "vector" or "column"); ``"columns"``: the contract's. ``attributes`` names W, b, dW
    and db; ``forward`` and ``backward`` the methods. ``supports`` (activations, losses) defaults
    to the seeds' six activations with mse and bce. The list is built once per architecture.
    """
    declared = _support(supports, "from_layers")
    _check_bias(bias, "from_layers")
    if layout not in ("rows", "columns"):
        raise AdapterError(f"from_layers: layout must be 'rows' or 'columns', got {layout!r}")
    W_name, b_name, dW_name, db_name = attributes
    built: dict[tuple[tuple[int, ...], tuple[str, ...]], list[Any]] = {}

    def adapted(params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str) -> Any:
        _require(declared, activations, loss)
        key = ((int(X.shape[0]), *(int(W.shape[0]) for W, _ in params)), tuple(activations))
        if key not in built:
            built[key] = list(layers(*key))
        network = built[key]
        dense = [layer for layer in network if hasattr(layer, W_name)]
        if len(dense) != len(params):
            raise AdapterError(
                f"from_layers: layers{key} built {len(dense)} layer(s) with a {W_name!r} "
                f"attribute for a network of {len(params)}"
            )
        for layer, (W, b) in zip(dense, params):
            setattr(layer, W_name, W.T.copy() if layout == "rows" else W.copy())
            setattr(layer, b_name, _bias_in(b, bias).copy())
        A = X.T.copy() if layout == "rows" else X
        for layer in network:
            A = getattr(layer, forward)(A)
        gradient = loss_grad(A, Y.T.copy() if layout == "rows" else Y)
        for layer in reversed(network):
            gradient = getattr(layer, backward)(gradient)
        pairs = []
        for layer in dense:
            dW, db = getattr(layer, dW_name), getattr(layer, db_name)
            pairs.append((_dW_from_rows(dW) if layout == "rows" else dW, _bias_out(db, bias)))
        return pairs

    adapted.__wrapped__ = layers  # type: ignore[attr-defined]  # names the user's code
    options = {"supports": supports, "layout": layout, "bias": bias, "attributes": attributes,
               "forward": forward, "backward": backward}  # fmt: skip
    return _declare(adapted, declared, _recipe(from_layers, (layers, loss_grad), options))


# --- one sample at a time ------------------------------------------------------------------------


def from_per_sample(
    backprop: Callable[[Array, Array], Any],
    *,
    activation: str = "sigmoid",
    loss: Loss | str = QUADRATIC_COST,
    reduction: str = "mean",
    returns: str = "b,w",
    set_params: Callable[[Params], Any] | None = None,
    weights: str = "weights",
    biases: str = "biases",
) -> AdaptedBackward:
    """Adapt a per-sample ``backprop(x, y)`` (Nielsen's network.py): x (n0, 1) and y (nL, 1) are
    one sample's columns; it returns ``(nabla_b, nabla_w)`` — lists over layers, biases as
    (n_l, 1) columns — of that sample's loss, for every layer's one ``activation``.

    The parameters reach it through its object: a bound method's ``__self__`` gets
    ``weights`` = [W1, ...] (n_l, n_{l-1}) and ``biases`` = [b1[:, None], ...] (attribute names
    configurable) and, where it has them, ``sizes`` and ``num_layers``; or ``set_params(params)``
    does what your code needs. The per-sample gradients
    are summed over the batch and, with ``reduction="mean"``, divided by m (the mini-batch
    average of the update step). ``loss`` is what the per-sample gradient differentiates:
    Nielsen's quadratic cost ½‖a − y‖² is ``Loss("mse", half=True)`` (the default); its
    reduction is set by ``reduction``. ``returns="w,b"`` for code that returns
    ``(nabla_w, nabla_b)``. Declared support: that activation in every layer, that loss.
    """
    if returns not in ("b,w", "w,b"):
        raise AdapterError(f"from_per_sample: returns must be 'b,w' or 'w,b', got {returns!r}")
    if reduction not in ("mean", "sum"):
        raise AdapterError(
            f"from_per_sample: reduction must be 'mean' (averaged over the batch) or 'sum', "
            f"got {reduction!r}"
        )
    per_sample = loss if isinstance(loss, Loss) else Loss(loss)
    declared_loss = Loss(per_sample.name, half=per_sample.half, reduction=reduction)
    declared = _support({"activations": (activation,), "losses": (per_sample.name,)},
                        "from_per_sample")  # fmt: skip
    declared["losses"] = (declared_loss,)
    owner = getattr(backprop, "__self__", None)
    if set_params is None and owner is None:
        raise AdapterError(
            "from_per_sample: backprop is not a method of an object that keeps the parameters; "
            "pass set_params=lambda params: ... to hand [(W1, b1), ...] to your code"
        )

    def backward(params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str) -> Any:
        if any(a != declared["activations"][0] for a in activations) or loss != declared_loss.name:
            raise NotImplementedError(
                f"from_per_sample declares {declared['activations'][0]} in every layer and "
                f"{declared_loss!r}; this problem is {tuple(activations)}, {loss!r}"
            )
        if set_params is not None:
            set_params([(W.copy(), b.copy()) for W, b in params])
        else:
            setattr(owner, weights, [W.copy() for W, _ in params])
            setattr(owner, biases, [b.copy()[:, None] for _, b in params])
            sizes = [int(X.shape[0]), *(int(W.shape[0]) for W, _ in params)]
            for name, value in (("sizes", sizes), ("num_layers", len(sizes))):
                if hasattr(owner, name):  # network.py's loops read them
                    setattr(owner, name, value)
        total: list[list[Any]] | None = None
        for j in range(X.shape[1]):
            first, second = backprop(X[:, j : j + 1].copy(), Y[:, j : j + 1].copy())
            nabla_b, nabla_w = (first, second) if returns == "b,w" else (second, first)
            pairs = [[np.asarray(dW), _flat_bias(np.asarray(db))]
                     for dW, db in zip(nabla_w, nabla_b)]  # fmt: skip
            if total is None:
                total = pairs
            else:
                for summed, pair in zip(total, pairs):
                    summed[0] = summed[0] + pair[0]
                    summed[1] = summed[1] + pair[1]
        divisor = X.shape[1] if reduction == "mean" else 1
        return [(dW / divisor, db / divisor) for dW, db in total or []]

    backward.__wrapped__ = backprop  # type: ignore[attr-defined]  # names the user's code
    options = {"activation": activation, "loss": loss, "reduction": reduction, "returns": returns,
               "set_params": set_params, "weights": weights, "biases": biases}  # fmt: skip
    return _declare(backward, declared, _recipe(from_per_sample, (backprop,), options))


def _flat_bias(db: Array) -> Array:
    """A column bias gradient (n, 1) as the contract's (n,); any other shape is left as it is
    for the harness to report."""
    return db[:, 0] if db.ndim == 2 and db.shape[1] == 1 else db


# --- one flat parameter vector -------------------------------------------------------------------


def from_flat(
    grad: Callable[[Array, Array, Array], Any],
    sizes: Sequence[int],
    activations: Sequence[str],
    loss: str | Loss,
    *,
    layout: str = "columns",
    l2: float = 0.0,
) -> AdaptedBackward:
    """Adapt ``grad(theta, X, Y) -> dtheta`` for one architecture, activations and loss
    (a name or a `harness.Loss`, with ``l2``: the convention ``grad`` implements).

    ``theta`` is a fresh float64 vector of ``NetworkSpec(sizes, ...).n_params`` entries,
    ``[W1.ravel(), b1, W2.ravel(), b2, ...]`` with each W^(l) (n_l, n_{l-1}) flattened row-major:
    ``W^(l)[i, j]`` sits at ``offset_l + i * n_{l-1} + j`` and ``b^(l)[i]`` at
    ``offset_l + n_l * n_{l-1} + i``, where ``offset_l = Σ_{k<l} (n_k n_{k-1} + n_k)``.
    ``dtheta`` must be a numpy array of shape (n_params,) in the same layout; it is cut into
    ``[(dW1, db1), ...]`` keeping its dtype (a float32 dtheta is reported, not converted); any
    other shape raises a `ValueError` naming the expected one. ``layout="columns"`` passes X
    (n0, m), Y (nL, m); ``layout="rows"`` passes X.T (m, n0), Y.T (m, nL) (theta is the same).

    ``supports`` is exactly this architecture: ``{"activations": ..., "losses": (loss,),
    "specs": (NetworkSpec(sizes, activations, loss),)}``; any other problem raises
    `NotImplementedError` (recorded as unsupported). If ``grad`` writes into theta, the change is
    copied back into the parameters, so the harness sees the mutation.
    """
    spec = NetworkSpec(sizes, activations, loss, l2=l2)
    if layout not in ("columns", "rows"):
        raise AdapterError(f"from_flat: layout must be 'columns' or 'rows', got {layout!r}")
    shapes = spec.param_shapes

    def backward(params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str) -> Any:
        here = (int(X.shape[0]), *(int(W.shape[0]) for W, _ in params))
        if (here, tuple(activations), loss) != (spec.sizes, spec.activations, spec.loss.name):
            raise NotImplementedError(
                f"from_flat was made for {spec!r}; this problem is "
                f"{NetworkSpec(here, activations, loss, l2=spec.l2)!r}"
            )
        theta = np.concatenate([part for W, b in params for part in (W.ravel(), b)])
        theta_given = theta.copy()
        dtheta = grad(theta, X, Y) if layout == "columns" else grad(theta, X.T, Y.T)
        if not np.array_equal(theta, theta_given):
            for (W, b), (W_new, b_new) in zip(params, _unflatten(theta, shapes)):
                for old, new in ((W, W_new), (b, b_new)):
                    if old.flags.writeable:
                        old[...] = new
        if not isinstance(dtheta, np.ndarray):
            raise TypeError(
                f"grad returned {type(dtheta).__name__}, expected a numpy.ndarray of shape "
                f"({spec.n_params},) and dtype float64"
            )
        if dtheta.shape != (spec.n_params,):
            raise ValueError(
                f"grad returned shape {dtheta.shape}, expected ({spec.n_params},): "
                f"[W1.ravel(), b1, ...] for {spec!r}"
            )
        return _unflatten(dtheta, shapes)

    supports: dict[str, tuple[Any, ...]] = {
        "activations": tuple(dict.fromkeys(spec.activations)),
        "losses": (spec.loss,),
        "l2": (spec.l2,),
        "specs": (spec,),
    }
    backward.__wrapped__ = grad  # type: ignore[attr-defined]  # names the user's code
    options = {"layout": layout, "l2": l2}
    cli = ("--layout", "flat") if layout == "columns" else None  # its spec: the line's --sizes
    made = _recipe(from_flat, (grad, tuple(sizes), tuple(activations), loss), options, cli)
    return _declare(backward, supports, made)


def _unflatten(
    vector: Array, shapes: Sequence[tuple[tuple[int, int], tuple[int]]]
) -> list[tuple[Array, Array]]:
    out: list[tuple[Array, Array]] = []
    start = 0
    for (n_l, n_prev), _ in shapes:
        W_end = start + n_l * n_prev
        out.append(
            (vector[start:W_end].reshape(n_l, n_prev).copy(), vector[W_end : W_end + n_l].copy())
        )
        start = W_end + n_l
    return out


# --- torch.autograd ------------------------------------------------------------------------------


def _import_optional(name: str, install: str) -> Any:
    """The module, typed Any: neither mypy nor a machine without it ever reads torch or jax."""
    try:
        return importlib.import_module(name)
    except ImportError:
        raise MissingDependencyError(f"the {name} adapter needs {name}: {install}") from None


def _torch_sequential(
    torch: Any, sizes: tuple[int, ...], activations: tuple[str, ...], dtype: Any
) -> Any:
    """``nn.Sequential(Linear, g_1, Linear, g_2, ...)`` in ``dtype``, parameters uninitialized."""
    nn = torch.nn
    modules = {
        "sigmoid": nn.Sigmoid,
        "tanh": nn.Tanh,
        "relu": nn.ReLU,
        "identity": nn.Identity,
        "softplus": lambda: nn.Softplus(beta=1.0, threshold=TORCH_SOFTPLUS_THRESHOLD),
        "elu": nn.ELU,
        "silu": nn.SiLU,
        "gelu": nn.GELU,  # approximate="none": the exact z Φ(z)
        "softmax": lambda: nn.Softmax(dim=1),  # rows are samples here
    }
    layers: list[Any] = []
    for (n_prev, n_l), name in zip(itertools.pairwise(sizes), activations):
        # skip_init: the weights are overwritten anyway, and torch's global RNG is left alone.
        layers.append(nn.utils.skip_init(nn.Linear, n_prev, n_l, dtype=dtype))
        slope = leaky_slope(name)
        layers.append(nn.LeakyReLU(slope) if slope is not None else modules[name]())
    return nn.Sequential(*layers)


def _torch_dtype(torch: Any, dtype: Any) -> Any:
    """``dtype`` as a torch dtype: None (the default) is torch.float64; torch.float64 and
    torch.float32, or their names, are the formats the harness judges (`harness.PRECISIONS`)."""
    if dtype is None:
        return torch.float64
    for chosen in (torch.float64, torch.float32):
        if dtype is chosen or (isinstance(dtype, str) and f"torch.{dtype}" == str(chosen)):
            return chosen
    raise AdapterError(
        f"from_torch: dtype must be torch.float64 (the default) or torch.float32, the formats "
        f"the harness judges (precision='float64' / 'float32'), got {dtype!r}"
    )


def from_torch(
    module_factory: Callable[[tuple[int, ...], tuple[str, ...]], Any] | None = None,
    *,
    supports: Mapping[str, Sequence[str]] | None = None,
    dtype: Any = None,
) -> AdaptedBackward:
    """Audit torch.autograd: the loss of an ``nn.Sequential``, ``.backward()``, its ``.grad``.

    Without ``module_factory`` the module is ``nn.Linear`` layers (torch's weight is (out, in),
    our W, copied in as is) interleaved with ``nn.Sigmoid``, ``nn.Tanh``, ``nn.ReLU``,
    ``nn.LeakyReLU(0.01)``, ``nn.Identity``, ``nn.Softplus(beta=1, threshold=40)`` (see
    `TORCH_SOFTPLUS_THRESHOLD`: torch's default threshold 20 is not softplus to float64
    precision). ``module_factory(sizes, activations)`` builds your own instead; its ``nn.Linear``
    modules, in order, must have the layers' shapes and biases. Modules are built once per
    (sizes, activations), moved to ``dtype`` and reused. X is fed as rows, X.T (m, n0).

    ``dtype`` is the format torch computes in: torch.float64 (the default; ``None`` means it)
    or torch.float32 (``"float64"`` and ``"float32"`` name them too). With torch.float32 the
    module, the parameters copied in and X and Y are float32, and the gradients come back as
    float32 arrays: audit it with ``precision="float32"`` (``--precision float32``), which hands
    it float32 arrays and judges it against float32 rounding; under the default float64 its
    float32 gradients are a dtype finding. Any other dtype is an `AdapterError`.

    The loss follows DESIGN.md, not torch's defaults: mse ``((A - Y)**2).sum() / m`` (no ½,
    averaged over samples only); bce ``binary_cross_entropy_with_logits(Z_L, Y,
    reduction="sum") / m`` on the input of a final ``nn.Sigmoid`` (``nn.BCELoss`` would clamp
    log at -100 and round 1 - a to 0 on saturated outputs). A module that does not end in
    ``nn.Sigmoid`` gets bce from its output, ``-(y log a + (1 - y) log(1 - a))``, unclamped.
    ``supports`` defaults to every activation and loss.
    """
    torch = _import_optional(
        "torch",
        # Linux: a version pin alone resolves to the CUDA build (several GB); the CPU build is
        # on torch's own index.
        "pip install torch (on Linux, the CPU build: "
        "pip install torch --index-url https://download.pytorch.org/whl/cpu)",
    )
    declared = _support(supports, "from_torch", everything=True)
    precision = _torch_dtype(torch, dtype)
    lock = threading.Lock()  # one module per architecture, shared by the harness's calls
    cache: dict[tuple[tuple[int, ...], tuple[str, ...]], tuple[Any, list[Any], Any]] = {}

    def build(sizes: tuple[int, ...], activations: tuple[str, ...]) -> tuple[Any, list[Any], Any]:
        if module_factory is None:
            module = _torch_sequential(torch, sizes, activations, precision)
        else:
            module = module_factory(sizes, activations).to(precision)
        linears = [m for m in module.modules() if isinstance(m, torch.nn.Linear)]
        found = [(tuple(m.weight.shape), m.bias is not None) for m in linears]
        wanted = [((n_l, n_prev), True) for n_prev, n_l in itertools.pairwise(sizes)]
        if found != wanted:
            raise AdapterError(
                f"module_factory{(sizes, activations)} built nn.Linear layers (weight shape, has "
                f"bias) {found}, expected {wanted}"
            )
        ends_in = (
            type(module[-1])
            if isinstance(module, torch.nn.Sequential) and len(module) > 0
            else None
        )
        logits = {torch.nn.Sigmoid: "sigmoid", torch.nn.Softmax: "softmax"}.get(ends_in)
        return module, linears, (module[:-1], logits) if logits else None

    def loss_of(module: Any, logits: Any, X_rows: Any, Y_rows: Any, loss: str, m: int) -> Any:
        F = torch.nn.functional
        if loss == "mse":
            return ((module(X_rows) - Y_rows) ** 2).sum() / m
        if loss == "bce":
            if logits is not None and logits[1] == "sigmoid":
                Z_L = logits[0](X_rows)
                return F.binary_cross_entropy_with_logits(Z_L, Y_rows, reduction="sum") / m
            A = module(X_rows)
            return -(Y_rows * torch.log(A) + (1 - Y_rows) * torch.log1p(-A)).sum() / m
        if loss == "cross_entropy":
            if logits is not None and logits[1] == "softmax":
                return -(Y_rows * F.log_softmax(logits[0](X_rows), dim=1)).sum() / m
            return -(Y_rows * torch.log(module(X_rows))).sum() / m
        raise NotImplementedError(f"from_torch: unknown loss {loss!r}")

    def backward(params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str) -> Any:
        _require(declared, activations, loss)
        key = ((int(X.shape[0]), *(int(W.shape[0]) for W, _ in params)), tuple(activations))
        with lock:
            if key not in cache:
                cache[key] = build(*key)
            module, linears, logits = cache[key]
            with torch.no_grad():
                for linear, (W, b) in zip(linears, params):
                    linear.weight.copy_(torch.tensor(W, dtype=precision))
                    linear.bias.copy_(torch.tensor(b, dtype=precision))
            module.zero_grad(set_to_none=True)
            X_rows = torch.tensor(X.T, dtype=precision)
            Y_rows = torch.tensor(Y.T, dtype=precision)
            with torch.enable_grad():
                loss_of(module, logits, X_rows, Y_rows, loss, int(X.shape[1])).backward()
            return [
                (linear.weight.grad.numpy().copy(), linear.bias.grad.numpy().copy())
                for linear in linears
            ]

    return cast(
        AdaptedBackward,
        _Remade(
            backward,
            declared,
            from_torch,
            (module_factory,),
            {"supports": supports, "dtype": dtype},
        ),
    )


# --- jax.grad ------------------------------------------------------------------------------------


def _jax_loss(jax: Any, activations: tuple[str, ...], loss: str) -> Callable[..., Any]:
    """J(params, X, Y) of DESIGN.md in jax.numpy, columns as samples."""
    jnp = jax.numpy
    g = {
        "sigmoid": jax.nn.sigmoid,
        "tanh": jnp.tanh,
        "relu": jax.nn.relu,
        "identity": lambda z: z,
        "softplus": jax.nn.softplus,
        "elu": jax.nn.elu,
        "silu": jax.nn.silu,
        "gelu": lambda z: jax.nn.gelu(z, approximate=False),
        "softmax": lambda z: jax.nn.softmax(z, axis=0),  # columns are samples
    }

    def activation(name: str) -> Callable[..., Any]:
        slope = leaky_slope(name)
        if slope is not None:
            return lambda z: jax.nn.leaky_relu(z, negative_slope=slope)
        chosen: Callable[..., Any] = g[name]
        return chosen

    def J(params: Any, X: Any, Y: Any) -> Any:
        m = X.shape[1]
        A = X
        for l, ((W, b), name) in enumerate(zip(params, activations), start=1):
            Z = W @ A + b[:, None]
            if loss == "bce" and l == len(activations):
                # From the logits: log a = log σ(z), log(1 - a) = log σ(-z); never log(0).
                log_a, log_1_minus_a = jax.nn.log_sigmoid(Z), jax.nn.log_sigmoid(-Z)
                return -jnp.sum(Y * log_a + (1 - Y) * log_1_minus_a) / m
            if loss == "cross_entropy" and l == len(activations):
                return -jnp.sum(Y * jax.nn.log_softmax(Z, axis=0)) / m
            A = activation(name)(Z)
        return jnp.sum((A - Y) ** 2) / m

    return J


def from_jax(
    loss_fn: Callable[[Any, Any, Any], Any] | None = None,
    *,
    activations: Sequence[str] | None = None,
    loss: str | None = None,
) -> AdaptedBackward:
    """Audit ``jax.grad``: of J written in jax.numpy, or of your ``loss_fn(params, X, Y)``.

    Making this adapter sets ``jax.config.update("jax_enable_x64", True)`` for the process: without
    it jax computes in float32. The built-in J uses ``jax.nn`` (sigmoid, relu, leaky_relu with
    slope 0.01, softplus) and ``jnp.tanh``; bce is taken from the last pre-activation with
    ``jax.nn.log_sigmoid``; mse has no ½. ``loss_fn`` receives ``[(W1, b1), ...]`` as jax arrays
    and X (n0, m), Y (nL, m); give ``activations=`` (one per layer) and ``loss=`` to declare what
    it computes: other problems raise `NotImplementedError`. The built-in J is differentiated
    under ``jax.jit`` (compiled once per shape); a ``loss_fn`` is not jitted, so it may use
    Python control flow. Gradients come back as numpy arrays of jax's dtype (float64 unless
    your loss_fn changes it).
    """
    jax = _import_optional("jax", "pip install jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    if loss_fn is None:
        if activations is not None or loss is not None:
            raise AdapterError("from_jax: activations= and loss= declare what a loss_fn computes")
        declared = _support(None, "from_jax", everything=True)
        fixed = None
    else:
        if activations is None or loss is None:
            raise AdapterError(
                "from_jax(loss_fn) needs activations=(one name per layer) and loss='mse'|'bce': "
                "what loss_fn computes"
            )
        declared = _support({"activations": activations, "losses": (loss,)}, "from_jax")
        declared["activations"] = tuple(dict.fromkeys(activations))
        fixed = (tuple(activations), loss)
        user_grad = jax.grad(loss_fn)
    grads: dict[tuple[tuple[str, ...], str], Callable[..., Any]] = {}

    def backward(params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str) -> Any:
        _require(declared, activations, loss)
        key = (tuple(activations), loss)
        if fixed is not None and key != fixed:
            raise NotImplementedError(f"from_jax(loss_fn) declares {fixed}; this problem is {key}")
        if fixed is not None:
            grad = user_grad
        elif key in grads:
            grad = grads[key]
        else:
            # jit: one XLA compile per shape (~0.1 s) instead of per operation, then ~0.2 ms.
            grad = grads[key] = jax.jit(jax.grad(_jax_loss(jax, *key)))
        jax_params = [(jnp.asarray(W), jnp.asarray(b)) for W, b in params]
        out = grad(jax_params, jnp.asarray(X), jnp.asarray(Y))
        return [(np.array(dW), np.array(db)) for dW, db in out]

    remade = _Remade(
        backward, declared, from_jax, (loss_fn,), {"activations": activations, "loss": loss}
    )
    return cast(AdaptedBackward, remade)
