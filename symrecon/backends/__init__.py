"""Evaluators of a model: the NumPy reference (:mod:`.numpy_ref`) and the numba kernels (:mod:`.numba`)."""
