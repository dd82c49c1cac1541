"""The compiled ingest modules (everything else is declared in pyproject.toml).

`_pairwise` is the native ingest lane (feedback_ingest/native.py), `_sha256` hashes framed rows
(feedback_ingest/digests.py): plain C against the Python headers. Optional: without a compiler
the Python lanes do the work (tests/feedback_ingest/test_native.py fails, so CI notices).
"""

from pathlib import Path

from setuptools import Extension, setup

HEADERS = sorted(str(p) for p in Path("feedback_ingest/csrc").glob("*.h"))  # _pairwise.c's

setup(
    ext_modules=[
        Extension(
            f"feedback_ingest.{name}",
            [f"feedback_ingest/{name}.c"],
            extra_compile_args=["-O2", "-std=c11", "-Wall"],
            depends=HEADERS,
            optional=True,
        )
        for name in ("_pairwise", "_sha256")
    ]
)
