"""RQ job functions, one module per domain; verb_noun names, IDs-and-primitives arguments, idempotent."""
