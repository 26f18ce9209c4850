"""Training: the silent loop (``loop``) and one job end to end (``job``)."""
