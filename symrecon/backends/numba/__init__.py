"""numba kernels: activation formulas, the packed model, shared primitives and the solver kernels."""
