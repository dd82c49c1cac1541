"""validation: data expectations, the golden promotion gate, reward drift and alerts.

Modules (import the one you need; heavy stacks load lazily inside functions):
- `validation.expectations`: `validate_pairs`, `validate_snapshot` (Great Expectations 1.x)
- `validation.gate`: `GateConfig` (defined in `validation.gate_config`), `evaluate_candidate`
  -> `GateVerdict`, the `Scorer` protocol
- `validation.drift`: `DriftConfig`, `score_frame`, `detect_drift` -> `DriftResult` (Evidently)
- `validation.alerts`: `Alert`, sinks, `send_alert`, `DriftEpisodes`, `notify_drift`
"""
