"""The GPU backend: numba.cuda kernels of the closed form and of ``newton``, one target per thread.

``reconstruct(model, y, method, device="cuda")`` runs ``"analytic"`` (the
closed-form inverse) or ``"newton"`` (structured Gauss–Newton, then
Levenberg–Marquardt) on an NVIDIA GPU, in float64, on the same packed model
as the CPU kernels and through the same scalar helpers.  Modules:

=================  ==============================================================
``target``         the one import of ``numba.cuda`` (built-in target or the
                   ``numba-cuda`` package), availability, CPU helpers on the device
``layout``         what the kernels read and the sizes one thread handles
``transfer``       chunks of rows on two streams: copies overlap the kernels
``closed_form``    the closed-form kernel
``newton``         the Gauss–Newton / Levenberg–Marquardt kernel
``solve``          method table, request checks, results as ``BlockResult``
=================  ==============================================================

Importing this package imports nothing from ``numba.cuda``; the kernel
modules do, when the GPU path is first used.  Tests run every kernel under
numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``) and, where a GPU is
present, on it (``tests/test_cuda.py``).

Examples
--------
>>> import symrecon as sr
>>> m = sr.Sequential([sr.Dense([[2.0]], [0.5], "tanh")])
>>> try:
...     sr.reconstruct(m, [0.3], method="gd", device="cuda")
... except sr.errors.CapabilityError as exc:
...     print(str(exc)[:45])
device='cuda' runs method 'analytic' or 'newt
"""
