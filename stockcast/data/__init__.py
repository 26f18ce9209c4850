"""Prices in and out: sources (network), validation, the store (disk), calendars."""
