"""Store-and-forward sync: push batches to the central server, serve them to pullers, fetch the downlink config."""
