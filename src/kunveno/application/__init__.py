"""Use cases: load aggregates from the log, check who may act, decide, save atomically."""
