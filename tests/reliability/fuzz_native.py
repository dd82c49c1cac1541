"""Fuzz the compiled ingest modules, built with sanitizers (`make fuzz-native`).

Feeds the native lane's scanner mutated pairwise events (inserted tokens and bytes, deletions,
cuts) and checks every line it accepts against the reference validator; hashes random framed
columns with `_sha256` and checks them against hashlib. `--sanitize` builds both modules with
AddressSanitizer + UBSan and runs this script on them in a child that preloads the runtimes:
a memory error or undefined behaviour aborts the run (`--modules DIR` loads builds from DIR).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "feedback_ingest")]
MODULES = ("_pairwise", "_sha256")
SANITIZE = ["-O1", "-g", "-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-std=c11",
            "-shared", "-fPIC"]  # fmt: skip


def sanitized_run(rounds: int, seed: int) -> int:
    """Build the modules with the sanitizers and fuzz them in a child; its exit status."""
    gcc = shutil.which("gcc")
    runtimes = [
        subprocess.run([gcc, f"-print-file-name={lib}"], capture_output=True, text=True).stdout
        for lib in ("libasan.so", "libubsan.so")
    ] if gcc else []  # fmt: skip
    if not gcc or not all(Path(r.strip()).is_file() for r in runtimes):
        raise SystemExit("needs gcc with the AddressSanitizer and UBSan runtimes")
    include = sysconfig.get_paths()["include"]
    with tempfile.TemporaryDirectory(prefix="rmops-sanitized-") as folder:
        for name in MODULES:
            source, target = ROOT / "feedback_ingest" / f"{name}.c", f"{folder}/{name}.san.so"
            subprocess.run([gcc, *SANITIZE, f"-I{include}", str(source), "-o", target], check=True)
        env = {**os.environ, "ASAN_OPTIONS": "detect_leaks=0",
               "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1",
               "LD_PRELOAD": " ".join(r.strip() for r in runtimes)}  # fmt: skip
        args = ["--modules", folder, "--rounds", str(rounds), "--seed", str(seed)]
        return subprocess.run([sys.executable, __file__, *args], env=env).returncode


def _load_built(folder: Path) -> None:
    """Put the modules built in `folder` in place of the installed ones."""
    for name in MODULES:
        (path,) = folder.glob(f"{name}.*.so")
        spec = importlib.util.spec_from_file_location(f"feedback_ingest.{name}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[f"feedback_ingest.{name}"] = module


def _mutated(rng: random.Random, template: bytes, tokens: list[bytes]) -> bytes:
    line = bytearray(template)
    for _ in range(rng.randint(0, 5)):
        at, roll = rng.randint(0, len(line)), rng.random()
        if roll < 0.4:
            line[at:at] = rng.choice(tokens)
        elif roll < 0.7:
            line[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 3)))
        elif roll < 0.85:
            del line[at : at + rng.randint(1, 4)]
        else:
            del line[at:]
    return bytes(line).replace(b"\n", b" ")


def fuzz_scanner(rng: random.Random, rounds: int) -> tuple[int, int]:
    from fi_helpers import LIMITS, reference
    from test_byte_mutations import TOKENS
    from test_native import _TEMPLATES, plain

    from feedback_ingest import native
    from feedback_ingest.store import events_table

    long = plain(prompt="x" * 190, responses={"a": "\U0001f375" * 150, "b": "b"})
    templates = [*_TEMPLATES, json.dumps(long).encode()]
    taken_total = 0
    for _ in range(rounds):
        lines = [_mutated(rng, rng.choice(templates), TOKENS) for _ in range(64)]
        table, taken = native.scan_lines(lines, LIMITS)
        expected = [reference(line) for line, ok in zip(lines, taken, strict=True) if ok]
        assert None not in expected, [line for line, ok in zip(lines, taken, strict=True) if ok]
        assert table.equals(events_table(expected))
        taken_total += int(taken.sum())
    return rounds * 64, taken_total


def fuzz_hasher(rng: random.Random, rounds: int) -> int:
    import pyarrow as pa

    from feedback_ingest import digests

    if not digests._SHA_NI:
        return 0
    for _ in range(rounds):
        n = rng.randint(1, 30)
        values = [[rng.randbytes(rng.choice([0, 55, 56, 64, rng.randint(0, 300)])).hex()
                   for _ in range(n)] for _ in range(rng.randint(1, 3))]  # fmt: skip
        columns = [pa.array(v, pa.large_string()) for v in values]
        got = digests.row_digests(columns, n)
        assert got == digests._hashlib_digests(columns, n)
    return rounds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sanitize", action="store_true", help="build with the sanitizers, run")
    parser.add_argument("--modules", type=Path, help="folder of sanitizer builds to load")
    parser.add_argument("--rounds", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.sanitize:
        raise SystemExit(sanitized_run(args.rounds, args.seed))
    if args.modules:
        _load_built(args.modules)
    from feedback_ingest import native

    rng = random.Random(args.seed)
    lines, taken = fuzz_scanner(rng, args.rounds)
    hashed = fuzz_hasher(rng, args.rounds // 10)
    print(f"scanner: {lines} mutated lines, {taken} accepted, each the reference's record; "
          f"hasher: {hashed} batches equal to hashlib ({native._pairwise.__file__})")  # fmt: skip


if __name__ == "__main__":
    main()
