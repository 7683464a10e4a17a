"""What every front end goes through: validation and limits, the answer cache, the question log,
metrics, settings, and reindexing with a hot swap of the engine."""
