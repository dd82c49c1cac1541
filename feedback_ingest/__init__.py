"""feedback_ingest."""
