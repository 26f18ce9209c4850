"""Commands of this group register on `stockcast.cli.app.app` (see ARCHITECTURE.md)."""
