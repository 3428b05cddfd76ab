"""symrecon: reconstruct the input of a trained neural network from its output.

Exact (SymPy closed forms, with derivations in LaTeX) where mathematics allows,
iterative (numba gradient descent, batched Gauss-Newton, scipy) where it does
not.  This module only re-exports the public API (listed in ``__all__``).
"""

from . import _cache as _cache  # first: numba kernels cache per user, not in the package (see _cache)
from . import activations as activations
from . import plot as plot
from . import softmax as softmax
from .classifier import ClassChange as ClassChange
from .classifier import prototype as prototype
from .classifier import smallest_class_change as smallest_class_change
from .classifier import softmax_preimage as softmax_preimage
from .compare import Comparison as Comparison
from .compare import compare as compare
from .errors import CapabilityError as CapabilityError
from .errors import InfeasibleTargetError as InfeasibleTargetError
from .errors import InvalidParameterError as InvalidParameterError
from .errors import InvalidValueError as InvalidValueError
from .errors import ModelFormatError as ModelFormatError
from .errors import NotInvertibleError as NotInvertibleError
from .errors import ShapeError as ShapeError
from .errors import SymreconError as SymreconError
from .errors import UnsupportedLayerError as UnsupportedLayerError
from .io import from_keras as from_keras
from .io import load_keras as load_keras
from .layers import Softmax as Softmax
from .layers import ThresholdedReLU as ThresholdedReLU
from .models import Dense as Dense
from .models import Sequential as Sequential
from .reconstruct import reconstruct as reconstruct
from .gate_region import GateRegion as GateRegion
from .gate_region import gate_region as gate_region
from .gates import GateTrace as GateTrace
from .gates import gate_values as gate_values
from .recurrent import GRU as GRU
from .recurrent import LSTM as LSTM
from .recurrent import SimpleRNN as SimpleRNN
from .distributed import DaskReconstruction as DaskReconstruction
from .result import Reconstruction as Reconstruction
from .rnn_step import invert_step as invert_step
from .sets import AffineSet as AffineSet
from .sets import Box as Box
from .sets import EmptySet as EmptySet
from .sets import Point as Point
from .sets import Polyhedron as Polyhedron
from .sets import Union as Union
from .preimage import preimage as preimage
from .sensitivity import Sensitivity as Sensitivity
from .sensitivity import sensitivity as sensitivity
from .shutdown import shutdown_region as shutdown_region
from .solvers import SOLVERS as SOLVERS
from .solvers import AbstractSolver as AbstractSolver
from .solvers.analytic import AnalyticSolver as AnalyticSolver
from .solvers.auto import Auto as Auto
from .solvers.gd import GradientDescent as GradientDescent
from .solvers.milp import MILPSolver as MILPSolver
from .solvers.newton import GaussNewton as GaussNewton
from .solvers.scipy_opt import ScipyLBFGS as ScipyLBFGS
from .solvers.scipy_opt import ScipyLeastSquares as ScipyLeastSquares
from .status import Status as Status
from .symbolic import AnalyticInverse as AnalyticInverse
from .symbolic import Derivation as Derivation
from .symbolic import ForwardGraph as ForwardGraph
from .symbolic import analytic_inverse as analytic_inverse
from .symbolic import forward_graph as forward_graph

__version__ = "0.1.0"

__all__ = [
    "GRU", "LSTM", "SOLVERS", "AbstractSolver", "AffineSet", "AnalyticInverse", "AnalyticSolver", "Auto",
    "CapabilityError", "Comparison", "Dense", "Derivation", "ForwardGraph", "GaussNewton", "GradientDescent",
    "InfeasibleTargetError", "InvalidParameterError", "InvalidValueError", "ModelFormatError",
    "NotInvertibleError", "Reconstruction", "DaskReconstruction", "ScipyLBFGS", "ScipyLeastSquares", "Sequential", "ShapeError",
    "SimpleRNN", "Softmax", "Status", "SymreconError", "ThresholdedReLU", "UnsupportedLayerError",
    "activations", "analytic_inverse", "compare", "forward_graph", "from_keras", "load_keras", "plot",
    "reconstruct",
    # softmax classifiers (symrecon.softmax, symrecon.classifier)
    "ClassChange", "prototype", "smallest_class_change", "softmax", "softmax_preimage",
    "MILPSolver",
    "Box", "EmptySet", "Point", "Polyhedron", "Union", "preimage", "Sensitivity", "sensitivity", "shutdown_region",
    # recurrent networks (symrecon.gates, symrecon.gate_region, symrecon.rnn_step)
    "GateRegion", "GateTrace", "gate_region", "gate_values", "invert_step",
]
