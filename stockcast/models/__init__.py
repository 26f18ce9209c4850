"""Model architectures and the saved-model store."""
