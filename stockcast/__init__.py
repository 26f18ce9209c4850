"""stockcast: honest LSTM stock forecasts from the command line."""

__version__ = "0.1.0"
