"""`make reliability` names its fault and hostile tests by pytest node id: each must exist, or
its row would print "not run" and the report fail for a rename instead of a fault."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def report_module():
    spec = importlib.util.spec_from_file_location(
        "reliability_report", ROOT / "bench" / "reliability.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_node_id_in_the_reliability_report_names_a_test():
    report = report_module()
    node_ids = [node for _, node in report.FAULTS]
    node_ids += report.HOSTILE_TESTS
    assert len(node_ids) >= 10
    for node_id in node_ids:
        path, name = node_id.split("::")
        tree = ast.parse((ROOT / path).read_text())
        tests = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
        assert name in tests, f"{node_id} does not exist"
