"""The demo: two cycles of the real loop through the Dagster definitions, on one machine.

Cycle 1: simulated production feedback -> `ingest_job` -> `feedback_volume_sensor` -> `training_job`
(train, golden gate, register, promote) -> `champion_change_sensor` -> `downstream_ppo_job`;
a baseline `drift_job`. Cycle 2: drifted traffic -> `ingest_job` -> `drift_job` (drift found) ->
`reward_drift_sensor` (one alert, a retraining run) -> `training_job` -> a second verdict.

The demo plays the daemon's part: it evaluates the sensors against the persistent instance in
`RMOPS_HOME/dagster` and executes the runs they request, so the Dagster UI shows every run.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg

from orchestration.instance import ensure_dagster_home

MARKER = ".rmops-demo"


@dataclass
class DemoSettings:
    """What the demo runs on; the defaults fit 2 CPU cores in a few minutes."""

    events: int = 800  # first cycle's simulated events (~1.9 pairs per event)
    drift_events: int = 250  # second cycle's drifted events: too few to retrain on volume alone
    retrain_min_pairs: int = 600  # feedback_volume_sensor threshold for the demo
    golden_pairs: int = 200
    backbone: str | None = None  # None: the bundled MiniLM
    training: dict[str, Any] = field(
        default_factory=lambda: {"num_epochs": 2.0, "max_length": 128, "learning_rate": 5e-5}
    )
    gate: dict[str, Any] = field(default_factory=dict)


@dataclass
class DemoLog:
    """The story of the demo, printed as it happens and kept for the summary."""

    lines: list[str] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)
    echo: Any = print

    def say(self, text: str) -> None:
        self.lines.append(text)
        self.echo(text)


def prepare_home(home: Path) -> None:
    """Start from an empty demo home; refuse to wipe a home that is not the demo's."""
    home = Path(home)
    if home.exists() and any(home.iterdir()):
        if not (home / MARKER).exists():
            raise ValueError(
                f"RMOPS_HOME {home} holds data that is not the demo's: "
                "point RMOPS_HOME at an empty folder to run the demo"
            )
        shutil.rmtree(home)
    home.mkdir(parents=True, exist_ok=True)
    (home / MARKER).write_text("created by `rmops demo`; the demo may wipe this folder\n")


class DemoDriver:
    """Runs jobs and sensor ticks against one instance, as the daemon would."""

    def __init__(self, defs: dg.Definitions, instance: dg.DagsterInstance, log: DemoLog):
        self.defs, self.instance, self.log = defs, instance, log
        self.cursors: dict[str, str | None] = {}

    def run_job(self, name: str, run_config: dict | None = None, tags: dict | None = None):
        job = self.defs.resolve_job_def(name)
        # Every event still lands in the instance (the UI shows it); the console stays readable.
        quiet = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
        result = job.execute_in_process(
            run_config=_merge(run_config or {}, quiet),
            instance=self.instance,
            tags=tags,
            raise_on_error=False,
        )
        failed_checks = [e.check_name for e in result.get_asset_check_evaluations() if not e.passed]
        status = "succeeded" if result.success else "FAILED"
        if failed_checks:
            status += f" (failed checks: {', '.join(failed_checks)})"
        self.log.runs.append({"job": name, "run_id": result.run_id, "success": result.success})
        self.log.say(f"  run {name} {result.run_id[:8]} {status}")
        return result

    def tick(self, sensor_name: str, run_config: dict | None = None) -> list:
        """Evaluate a sensor once and execute the runs it requests."""
        sensor = self.defs.resolve_sensor_def(sensor_name)
        context = dg.build_sensor_context(
            instance=self.instance,
            cursor=self.cursors.get(sensor_name),
            resources=self.defs.resources,
        )
        data = sensor.evaluate_tick(context)
        self.cursors[sensor_name] = data.cursor
        if not data.run_requests:
            self.log.say(f"  sensor {sensor_name}: skipped ({data.skip_message or 'no request'})")
            return []
        results = []
        for request in data.run_requests:
            job = request.job_name or sensor.job_name
            self.log.say(f"  sensor {sensor_name}: requested {job} (run key {request.run_key})")
            config = _merge(request.run_config or {}, run_config or {})
            results.append(self.run_job(job, config, dict(request.tags)))
        return results


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merge(out.get(key, {}), value) if isinstance(value, dict) else value
    return out


def _run_config(settings: DemoSettings) -> dict:
    training = dict(settings.training)
    if settings.backbone:
        training["backbone"] = settings.backbone
    return {
        "ops": {
            "reward_model_candidate": {"config": training},
            "candidate_evaluation": {"config": dict(settings.gate)},
        }
    }


def _asset_metadata(instance: dg.DagsterInstance, key: str) -> dict[str, Any]:
    event = instance.get_latest_materialization_event(dg.AssetKey(key))
    if event is None or event.asset_materialization is None:
        return {}
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


def _cycle_one(driver: DemoDriver, config, settings: DemoSettings, run_config: dict) -> None:
    from feedback_ingest.simulate import write_simulated

    log = driver.log
    log.say(f"cycle 1: {settings.events} simulated production feedback events")
    write_simulated(config, settings.events, seed=1)
    driver.tick("run_failure_alert_sensor")  # its first tick only starts watching
    driver.run_job("ingest_job")
    driver.tick("feedback_volume_sensor", run_config)
    driver.tick("champion_change_sensor")
    driver.run_job("drift_job")
    driver.tick("reward_drift_sensor", run_config)


def _cycle_two(driver: DemoDriver, config, settings: DemoSettings, run_config: dict) -> None:
    from feedback_ingest.simulate import write_simulated

    log = driver.log
    log.say(f"cycle 2: {settings.drift_events} drifted events (longer, flattering policy)")
    write_simulated(config, settings.drift_events, seed=2, drift=True)
    driver.run_job("ingest_job")
    driver.tick("feedback_volume_sensor", run_config)
    driver.run_job("drift_job")
    driver.tick("reward_drift_sensor", run_config)
    driver.tick("run_failure_alert_sensor")
    driver.tick("champion_change_sensor")


def run_demo(home: Path, settings: DemoSettings | None = None, echo=print) -> dict[str, Any]:
    """Run both cycles in `home` (wiped first if it is a previous demo's); return the summary."""
    from feedback_ingest.simulate_golden import write_simulated_golden
    from orchestration.definitions import build_definitions, build_resources
    from orchestration.demo_summary import summarize
    from orchestration.resources import RmopsHomeResource

    settings = settings or DemoSettings()
    home = Path(home).resolve()
    prepare_home(home)
    write_simulated_golden(home / "golden" / "simulated-golden.jsonl", settings.golden_pairs)
    resources = build_resources(home)
    resources["rmops_home"] = RmopsHomeResource(
        home=str(home), retrain_min_pairs=settings.retrain_min_pairs
    )
    defs = build_definitions(resources)
    log = DemoLog(echo=echo)
    instance = dg.DagsterInstance.from_config(str(ensure_dagster_home(home)))
    try:
        driver = DemoDriver(defs, instance, log)
        run_config = _run_config(settings)
        config = resources["rmops_home"].ingest_config()
        _cycle_one(driver, config, settings, run_config)
        _cycle_two(driver, config, settings, run_config)
        return summarize(home, instance, resources, log)
    finally:
        instance.dispose()
