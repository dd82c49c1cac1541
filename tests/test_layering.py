"""The layering rule: the three libraries never import Dagster or orchestration."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import pytest

LIBRARIES = ["feedback_ingest", "rm_pipeline", "validation"]


def _modules(package: str) -> list[str]:
    pkg = __import__(package)
    names = [package]
    names += [m.name for m in pkgutil.walk_packages(pkg.__path__, prefix=f"{package}.")]
    return names


@pytest.mark.parametrize("package", LIBRARIES)
def test_library_imports_without_dagster(package):
    modules = _modules(package)
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('dagster', 'orchestration'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"{package} loaded {out.stdout.strip()}"
