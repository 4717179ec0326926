"""The benchmark's setup: how it runs the operator."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from bench import cli


def test_the_operators_modules_are_compiled_ahead_as_the_image_does(tmp_path: Path) -> None:
    """Every module of the package, nested ones too, gets its bytecode before the operator starts."""
    (tmp_path / "sub").mkdir()
    modules = [tmp_path / "a.py", tmp_path / "sub" / "b.py"]
    for n, module in enumerate(modules):
        module.write_text(f"X = {n}\n")
    assert cli.compile_ahead(tmp_path) == 2
    assert all(Path(importlib.util.cache_from_source(str(m))).is_file() for m in modules)
