"""mnistflow: a reproducible, MLflow-tracked DVC pipeline for a Keras MLP on MNIST."""

__version__ = "0.1.0"
