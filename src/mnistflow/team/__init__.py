"""Team storage: a SeaweedFS S3 store and an MLflow server with its artifacts there, and a DVC remote on it."""
