"""The model families (MLP and CNN), their builders, losses and optimizers."""
