"""Reading trained models from files (no TensorFlow, no code execution)."""

from .keras import from_keras as from_keras
from .keras import load_keras as load_keras
