"""The NumPy reference: minisbert's math as plain float64 functions, used as the oracle in tests.

Imports NumPy and the standard library only (and `safetensors.numpy` to read weights), never
torch and never `minisbert`. Parameters are a flat dict keyed by the torch `state_dict()` names,
e.g. params["encoder.layer.0.attention.self.query.weight"] of shape (C, C).
"""
