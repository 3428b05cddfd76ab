"""`import symrecon` is cheap: no numba compilation, no Keras/torch/TensorFlow import, no heavy SciPy submodule."""

import subprocess
import sys
import textwrap

CHECK = textwrap.dedent(
    """
    import sys
    import symrecon, symrecon.solvers, symrecon.io, symrecon.symbolic
    from numba.core.registry import CPUDispatcher
    compiled = []
    for name, mod in list(sys.modules.items()):
        if name.startswith("symrecon"):
            for attr, obj in vars(mod).items():
                if isinstance(obj, CPUDispatcher):
                    found = True
                    if obj.signatures:
                        compiled.append(f"{name}.{attr}")
    heavy = [m for m in ("keras", "torch", "tensorflow", "jax") if m in sys.modules]
    n_kernels = sum(isinstance(o, CPUDispatcher) for n, m in list(sys.modules.items())
                    if n.startswith("symrecon") for o in vars(m).values())
    print(repr((compiled, heavy, n_kernels)))
    """
)


def test_import_compiles_nothing_and_imports_no_framework():
    proc = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    compiled, heavy, n_kernels = eval(proc.stdout.strip().splitlines()[-1])
    assert n_kernels > 0, "expected numba kernels to be defined (lazily) in symrecon"
    assert compiled == [], f"compiled at import: {compiled}"
    assert heavy == [], f"import symrecon pulled in {heavy}"


#: SciPy submodules worth ~0.3 s together; imported by the functions that use them, never by ``import symrecon``
HEAVY_SCIPY = ("scipy.optimize", "scipy.special", "scipy.sparse", "scipy.linalg")


def test_import_leaves_the_heavy_scipy_submodules_out():
    code = ("import sys, symrecon; symrecon.activations.get('silu').image; "
            f"print(repr([m for m in {HEAVY_SCIPY!r} if m in sys.modules]))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    loaded = eval(proc.stdout.strip().splitlines()[-1])
    assert loaded == [], f"import symrecon pulled in {loaded}"
