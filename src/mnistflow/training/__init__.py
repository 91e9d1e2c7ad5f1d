"""Training: the compiled loop, the pipeline's train and evaluate, cross-validation, and their recording."""
