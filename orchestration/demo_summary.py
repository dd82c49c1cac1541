"""The demo's closing summary: read back from the instance, the datasets and the registry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dagster as dg


def _materializations(instance: dg.DagsterInstance, key: str) -> list[dict[str, Any]]:
    records = instance.fetch_materializations(dg.AssetKey(key), limit=100).records
    out = []
    for record in sorted(records, key=lambda r: r.storage_id):
        mat = record.asset_materialization
        out.append({k: v.value for k, v in (mat.metadata if mat else {}).items()})
    return out


def _datasets(home: Path) -> list[dict[str, Any]]:
    from feedback_ingest.snapshots import list_versions, read_manifest

    root = home / "datasets" / "preferences"
    rows = []
    for version in list_versions(root):
        counts = read_manifest(root, version).get("counts", {})
        rows.append(
            {"version": version, **{k: counts.get(k) for k in ("train", "val", "new_pairs")}}
        )
    return rows


def summarize(home: Path, instance: dg.DagsterInstance, resources: dict, log) -> dict[str, Any]:
    """A dict for `--json` and the printed text: datasets, verdicts, champion, drift, alerts."""
    from rm_pipeline.registry import current_champion, list_models

    registry = resources["mlflow_registry"].registry_config()
    ingests = _materializations(instance, "feedback_events")
    verdicts = [
        {
            k: m.get(k)
            for k in (
                "verdict",
                "golden_accuracy",
                "champion_accuracy",
                "champion_version",
                "reasons",
            )
        }
        for m in _materializations(instance, "candidate_evaluation")
    ]
    drift = [
        {
            k: m.get(k)
            for k in (
                "drift_detected",
                "score_reward",
                "method_reward",
                "mean_reward_shift",
                "report",
                "skipped",
            )
        }
        for m in _materializations(instance, "reward_drift_report")
    ]
    alerts_file = home / "alerts" / "alerts.jsonl"
    alerts = (
        [json.loads(x) for x in alerts_file.read_text().splitlines()]
        if alerts_file.exists()
        else []
    )
    return {
        "home": str(home),
        "ingest": [
            {k: m.get(k) for k in ("read", "accepted", "duplicate", "quarantined")} for m in ingests
        ],
        "datasets": _datasets(home),
        "verdicts": verdicts,
        "models": [m.to_dict() for m in list_models(registry)],
        "champion": current_champion(registry),
        "drift": drift,
        "alerts": [{"title": a.get("title"), "severity": a.get("severity")} for a in alerts],
        "runs": log.runs,
        "reports": {
            "gate": str(home / "reports" / "gate"),
            "drift": str(home / "reports" / "drift"),
            "handoff": str(home / "handoff" / "latest.json"),
        },
    }


def summary_text(summary: dict[str, Any]) -> str:
    """The printed summary: short, with where to look next."""
    lines = ["", "=== rmops demo summary ==="]
    for i, m in enumerate(summary["ingest"], 1):
        lines.append(f"ingest {i}: read {m['read']} = {m['accepted']} accepted + "
                     f"{m['duplicate']} duplicate + {m['quarantined']} quarantined")  # fmt: skip
    for d in summary["datasets"]:
        lines.append(f"dataset {d['version']}: {d['train']} train / {d['val']} val pairs "
                     f"(+{d['new_pairs']} new)")  # fmt: skip
    for i, v in enumerate(summary["verdicts"], 1):
        champ = v.get("champion_accuracy")
        vs = (
            f" vs champion v{v['champion_version']} {champ:.3f}"
            if v.get("champion_version") not in (None, "none")
            else ""
        )
        lines.append(
            f"candidate {i}: gate {v['verdict']}, golden accuracy {v['golden_accuracy']:.3f}{vs}"
        )
        lines += [f"    {r}" for r in str(v.get("reasons") or "").splitlines()]
    for m in summary["models"]:
        lines.append(f"model v{m['version']}: {m['gate_verdict']}, aliases {m['aliases'] or '-'}, "
                     f"dataset {m['dataset_version']}")  # fmt: skip
    lines.append(f"champion: v{summary['champion']}" if summary["champion"] else "champion: none")
    for i, d in enumerate(summary["drift"], 1):
        if d.get("skipped"):
            lines.append(f"drift check {i}: skipped ({d['skipped']})")
        else:
            lines.append(f"drift check {i}: {'DRIFT' if d['drift_detected'] else 'no drift'}, "
                         f"reward {d.get('method_reward') or 'score'} "
                         f"{d.get('score_reward', float('nan')):.3g}, "
                         f"mean shift {d.get('mean_reward_shift', 0.0):+.3f}")  # fmt: skip
    lines.append(
        f"alerts sent: {len(summary['alerts'])} " + ", ".join(a["title"] for a in summary["alerts"])
    )
    lines.append(f"reports: {summary['reports']['gate']} and {summary['reports']['drift']}")
    lines.append(
        "see it in the UIs: `make ui` (Dagster http://127.0.0.1:3000, MLflow http://127.0.0.1:5000)"
    )
    return "\n".join(lines)
