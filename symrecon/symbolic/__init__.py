"""Symbolic side: SymPy forward graph, analytic inverse and its derivation."""

from .derivation import Derivation as Derivation
from .derivation import Step as Step
from .graph import ForwardGraph as ForwardGraph
from .graph import forward_graph as forward_graph
from .inverse import AnalyticInverse as AnalyticInverse
from .inverse import analytic_inverse as analytic_inverse
