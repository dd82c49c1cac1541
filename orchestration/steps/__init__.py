"""Plain functions that chain library calls across packages (no Dagster here).

Each Dagster asset calls exactly one of these, so assets stay thin and every step can be run
and tested without an orchestrator. Only `orchestration` may combine `rm_pipeline` and
`validation`, which is why these live here rather than in a library.
"""
