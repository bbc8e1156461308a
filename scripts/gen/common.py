"""Shared helpers for the emofeat fixture generators (scripts/gen/*_fixtures.py).

Run the generators with the system interpreter, which has torch/onnx/numpy:

    /usr/bin/python3 scripts/gen/<name>_fixtures.py

This module only holds generic utilities (paths, deterministic seeding, JSON
writing with reproducible float formatting, ONNX export/validation, size
summaries). Anything modality-specific lives in the per-modality generator.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import sys
import unicodedata
from pathlib import Path
from typing import Any, Iterable

# ---------------------------------------------------------------------------
# Paths
# ---------------------------------------------------------------------------

#: Repository root (scripts/gen/common.py -> ../../).
REPO_ROOT = Path(__file__).resolve().parents[2]
#: Shared, read-only material next to the repo (never copied into the repo).
SHARED_DIR = (REPO_ROOT / ".." / "shared").resolve()
FIXTURES_DIR = REPO_ROOT / "fixtures"
MODELS_DIR = REPO_ROOT / "models"
BENCH_MODELS_DIR = REPO_ROOT / "bench" / "models"


def rel(path: Path) -> str:
    """Path relative to the repo root (for printing)."""
    try:
        return str(Path(path).resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


# ---------------------------------------------------------------------------
# Determinism
# ---------------------------------------------------------------------------


def seed_everything(seed: int) -> None:
    """Seed python/numpy/torch and force single-threaded deterministic torch.

    Single-threaded CPU kernels make float results independent of the
    machine's core count, so re-running a generator reproduces identical
    numbers (and, for JSON/ONNX outputs, identical bytes).
    """
    random.seed(seed)
    try:
        import numpy as np

        np.random.seed(seed % (2**32))
    except ImportError:  # pragma: no cover
        pass
    import torch

    torch.manual_seed(seed)
    torch.set_num_threads(1)
    try:
        torch.use_deterministic_algorithms(True)
    except Exception:  # pragma: no cover - older torch
        pass


def torch_generator(seed: int):
    """A dedicated torch.Generator, so weight init does not depend on global RNG use."""
    import torch

    g = torch.Generator()
    g.manual_seed(seed)
    return g


# ---------------------------------------------------------------------------
# JSON writing
# ---------------------------------------------------------------------------


def fmt_float(x: float, digits: int = 9) -> str:
    """Format a float with `digits` significant digits (9 round-trips float32).

    Always produces valid JSON (no NaN/Infinity: those raise).
    """
    x = float(x)
    if not math.isfinite(x):
        raise ValueError(f"non-finite float in fixture: {x!r}")
    if x == 0.0:
        return "0"  # also normalises -0.0
    s = f"{x:.{digits}g}"
    return s


def _escape_invisible(ch: str) -> str:
    cp = ord(ch)
    if cp > 0xFFFF:  # JSON escapes use UTF-16 surrogate pairs
        cp -= 0x10000
        return "\\u%04x\\u%04x" % (0xD800 + (cp >> 10), 0xDC00 + (cp & 0x3FF))
    return "\\u%04x" % cp


def _json_str(s: str) -> str:
    """JSON string, UTF-8 for visible characters but \\uXXXX escapes for invisible ones
    (controls, format chars such as U+200B / U+00AD, NBSP and other non-ASCII spaces), so the
    fixture files stay readable and survive editors that normalise whitespace."""
    text = json.dumps(s, ensure_ascii=False)
    return "".join(
        _escape_invisible(ch)
        if ch != " " and unicodedata.category(ch)[0] in "CZ"
        else ch
        for ch in text
    )


def _dump(obj: Any, indent: int, level: int, digits: int) -> str:
    pad = " " * (indent * level)
    pad_in = " " * (indent * (level + 1))
    if obj is None or isinstance(obj, bool):
        return json.dumps(obj)
    if isinstance(obj, int):
        return str(obj)
    if isinstance(obj, float):
        return fmt_float(obj, digits)
    if isinstance(obj, str):
        return _json_str(obj)
    if hasattr(obj, "tolist"):  # numpy arrays / scalars, torch tensors
        return _dump(obj.tolist(), indent, level, digits)
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        items = [
            f"{pad_in}{json.dumps(str(k), ensure_ascii=False)}: {_dump(v, indent, level + 1, digits)}"
            for k, v in obj.items()
        ]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, (list, tuple)):
        if not obj:
            return "[]"
        # Lists of scalars go on one line (compact, diff-friendly per row).
        if all(x is None or isinstance(x, (int, float, bool, str)) for x in obj):
            return "[" + ", ".join(_dump(x, indent, level + 1, digits) for x in obj) + "]"
        items = [pad_in + _dump(x, indent, level + 1, digits) for x in obj]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]"
    raise TypeError(f"cannot serialise {type(obj).__name__}")


def dumps_json(obj: Any, indent: int = 2, digits: int = 9) -> str:
    """Deterministic JSON text: key order preserved, one scalar-list per line,
    floats with `digits` significant digits, UTF-8 (no ASCII escaping),
    trailing newline."""
    text = _dump(obj, indent, 0, digits) + "\n"
    json.loads(text)  # sanity: must be valid JSON
    return text


def write_json(path: Path, obj: Any, digits: int = 9) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dumps_json(obj, digits=digits), encoding="utf-8")
    return path


def write_plain_json(path: Path, obj: Any) -> Path:
    """Ordinary pretty JSON (for HF-style config files)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


# ---------------------------------------------------------------------------
# ONNX
# ---------------------------------------------------------------------------


def export_onnx(
    module,
    args: tuple,
    path: Path,
    input_names: list[str],
    output_names: list[str],
    dynamic_axes: dict[str, dict[int, str]],
    opset: int = 14,
) -> Path:
    """torch.onnx.export + onnx.checker, writing a single self-contained file."""
    import onnx
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    module.eval()
    with torch.no_grad():
        torch.onnx.export(
            module,
            args,
            str(path),
            input_names=input_names,
            output_names=output_names,
            dynamic_axes=dynamic_axes,
            opset_version=opset,
            do_constant_folding=True,
            export_params=True,
        )
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    got_in = [i.name for i in model.graph.input]
    got_out = [o.name for o in model.graph.output]
    if got_in != input_names or got_out != output_names:
        raise RuntimeError(f"ONNX signature mismatch: inputs {got_in}, outputs {got_out}")
    return path


# ---------------------------------------------------------------------------
# Summaries
# ---------------------------------------------------------------------------


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def human_size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"  # unreachable


def print_summary(title: str, paths: Iterable[Path]) -> None:
    paths = [Path(p) for p in paths]
    total = 0
    print(f"\n{title}")
    for p in paths:
        size = p.stat().st_size
        total += size
        print(f"  {human_size(size):>9}  {sha256_file(p)[:12]}  {rel(p)}")
    print(f"  {human_size(total):>9}  total ({len(paths)} files)")
    sys.stdout.flush()


def ensure_dir(path: Path) -> Path:
    Path(path).mkdir(parents=True, exist_ok=True)
    return Path(path)


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").lower() in ("1", "true", "yes")


def shared_wavs(rels: Iterable[str]) -> list[Path] | None:
    """Files of ../shared/data named relative to it (a folder means its first .wav); None without ../shared."""
    data = SHARED_DIR / "data"
    if not data.is_dir():
        print(f"  (no {data}: shared-file references skipped)")
        return None
    paths = [data / r for r in rels]
    return [sorted(p.glob("*.wav"))[0] if p.is_dir() else p for p in paths]
