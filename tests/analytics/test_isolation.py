"""guanxi.analytics is a library: numpy and scipy only, never Django or the rest of guanxi."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import guanxi.analytics

PACKAGE = Path(guanxi.analytics.__file__).parent


def test_importing_analytics_loads_neither_django_nor_matplotlib() -> None:
    code = (
        "import sys, guanxi.analytics\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('django', 'matplotlib')\n"
        "             or (m.startswith('guanxi.') and not m.startswith('guanxi.analytics')))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_no_module_of_the_package_names_django_or_other_guanxi_code() -> None:
    # Catches imports inside functions too, which an import-time check cannot see.
    for path in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                assert top not in ("django", "guanxi"), f"{path.name} imports {name}"


def test_the_public_names_are_exactly_the_curated_list() -> None:
    public = {name for name in dir(guanxi.analytics) if not name.startswith("_")}
    # Submodules become attributes of the package once anything imports them (the
    # segmentation, traits ... modules are imported from their own module, not re-exported).
    modules = {path.stem for path in PACKAGE.glob("*.py")}
    assert public - modules == set(guanxi.analytics.__all__)
