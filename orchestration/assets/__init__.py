"""Assets by group: feedback, training, validation, registry, monitoring."""
