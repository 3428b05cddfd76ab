"""The operation graph every backend reads: ops, named nodes, and how models become graphs.

Examples
--------
>>> import symrecon as sr
>>> from symrecon.graph import to_graph
>>> g = to_graph(sr.Sequential([sr.Dense([[1.0]], name="d")]))
>>> [(node.name, type(node.op).__name__) for node in g][1:]
[('d/z', 'Affine'), ('d/a', 'Elementwise')]
"""

from ._base import Op as Op
from ._base import Preimage as Preimage
from ._base import PreimageRule as PreimageRule
from .build import add_dense as add_dense
from .build import to_graph as to_graph
from .graph import INPUT as INPUT
from .graph import Graph as Graph
from .graph import GraphBuilder as GraphBuilder
from .graph import Node as Node
from .graph import Value as Value
from .ops import Affine as Affine
from .ops import Elementwise as Elementwise
from .ops import Softmax as Softmax
from .ops import ThresholdedReLU as ThresholdedReLU
from .structural import Add as Add
from .structural import Concat as Concat
from .structural import Constant as Constant
from .structural import Mul as Mul
from .structural import Slice as Slice

__all__ = ["INPUT", "Add", "Affine", "Concat", "Constant", "Elementwise", "Graph", "GraphBuilder", "Mul", "Node",
           "Op", "Preimage", "PreimageRule", "Slice", "Softmax", "ThresholdedReLU", "Value", "add_dense", "to_graph"]
