"""Data sources. The only modules that read the network (yahoo) or foreign files (csv, sample).

Every source returns a frame in the store's schema (``stockcast.data.store.COLUMNS``), indexed by
tz-naive session date, not yet validated.
"""
