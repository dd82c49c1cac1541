"""rm_pipeline."""
