"""Swapping a model's `nn.Linear` layers for faster ones, visibly: each is a module of its own.

Most of BERT's time goes into its linear layers (six per layer). kernels/ offers other ways to run
the same multiply, each a subclass of `nn.Linear` that holds the *same* weight and bias
Parameters as the layer it replaces:

    PackedLinear    (packed_linear.py) encoding on the CPU, weights packed once for oneDNN
    Int8Linear      (packed_linear.py) encoding on the CPU, weights and activations in 8-bit integers
    UnpaddedLinear  (unpadding.py)     training, the padding positions' rows not multiplied

`replace_linears(model, make)` puts `make(linear)` in the place of every linear layer of `model`
(and `put_back` the layers it took out).
Because the Parameters are shared, nothing else changes: `state_dict()` has the same names and
tensors, an optimizer built before the swap still updates them, and a saved model folder is the
same. What changed shows where a reader looks: `print(encoder)` lists `PackedLinear(...)` where it
listed `Linear(...)`, and `plain_linears(model)` puts plain `nn.Linear` layers back.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

from torch import nn


def share_parameters(cls: type[nn.Linear], linear: nn.Linear) -> nn.Linear:
    """A new layer of class `cls` holding `linear`'s own weight and bias (no copy, no new random
    numbers drawn: `nn.Linear.__init__`, which would initialise new ones, is not called)."""
    new = cls.__new__(cls)
    nn.Module.__init__(new)
    new.in_features, new.out_features = linear.in_features, linear.out_features
    new.weight = linear.weight  # the same Parameter object
    new.bias = linear.bias  # (a Parameter, or None)
    new.train(linear.training)
    return new


Place = tuple[nn.Module, str, nn.Linear]  # (parent module, attribute name, the layer that was there)


def replace_linears(model: nn.Module, make: Callable[[nn.Linear], nn.Linear]) -> list[Place]:
    """Put `make(linear)` in the place of every `nn.Linear` (of any subclass) inside `model`, in
    place; returns where, with the layers that were there (`put_back` restores them). Every new
    layer is made before any is put in, so that an error (an int8 kernel this torch lacks, say)
    leaves the model as it was."""
    places = [
        (parent, name, child)
        for parent in model.modules()
        for name, child in parent.named_children()
        if isinstance(child, nn.Linear)
    ]
    new = [make(child) for _, _, child in places]
    for (parent, name, _), layer in zip(places, new, strict=True):
        setattr(parent, name, layer)
    return places


def put_back(places: list[Place]) -> None:
    """The very layers `replace_linears` took out, back in their places (their hooks with them),
    in their parent's mode. A layer that keeps a pack of its weights forgets it: the weights may
    have changed while it was out (packed_linear.py)."""
    for parent, name, layer in places:
        layer.train(parent.training)
        if hasattr(layer, "forget_pack"):
            layer.forget_pack()
        setattr(parent, name, layer)


def plain_linears(model: nn.Module) -> nn.Module:
    """Plain `nn.Linear` layers again, on the same Parameters: `model.py` exactly as written."""
    replace_linears(model, lambda linear: share_parameters(nn.Linear, linear))
    return model


def shared_copy(model: nn.Module) -> nn.Module:
    """A copy of `model` whose modules are its own, so that swapping its layers leaves the
    original's, but whose Parameters are the original's (no second copy of the weights)."""
    return copy.deepcopy(model, memo={id(p): p for p in model.parameters()})


def linear_kinds(model: nn.Module) -> dict[str, int]:
    """How many linear layers of each class `model` holds, e.g. {"PackedLinear": 36}."""
    kinds: dict[str, int] = {}
    for module in model.modules():
        if isinstance(module, nn.Linear):
            kinds[type(module).__name__] = kinds.get(type(module).__name__, 0) + 1
    return kinds
