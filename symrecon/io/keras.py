# PLACEHOLDER: replaced by the Keras work.
def load_keras(path): raise NotImplementedError
def from_keras(model): raise NotImplementedError
