"""Pure preparation: features from prices, windows, splits and scalers (no disk, no torch)."""
