"""The layers of docs/architecture.md, checked: which package may import which, and no Textual
in the core."""

from __future__ import annotations

import ast
import json
import pkgutil
import re
import subprocess
from pathlib import Path

import wizard
import wizard_process

ROOT = Path(__file__).resolve().parent.parent
ARCHITECTURE = ROOT / "docs" / "architecture.md"


def allowed_imports() -> dict[str, set[str]]:
    """The table in docs/architecture.md: | `package` | `may import`, ... |"""
    table = {}
    for line in ARCHITECTURE.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and re.fullmatch(r"`[\w.]+`", cells[0]):
            table[cells[0].strip("`")] = set(re.findall(r"`([\w.]+)`", cells[1]))
    return table


def layer_of(module: str, layers: set[str]) -> str:
    """The most specific layer that holds `module` (wizard.files.dovecot.parser -> wizard.files)."""
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in layers:
            return ".".join(parts[:end])
    raise AssertionError(f"{module} is in no layer of {ARCHITECTURE.name}")


def module_files():
    for path in sorted((ROOT / "wizard").rglob("*.py")) + sorted((ROOT / "screens").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts), path


def imported(module: str, path: Path):
    """Every project module that `path` imports, at any depth (lazy imports too)."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".")
                package = package if is_package else package[:-1]
                base = ".".join(package[:len(package) - node.level + 1] + ([base] if base else []))
            names = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] in ("wizard", "screens"):
                yield node.lineno, name


def is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def test_the_table_names_every_package():
    """Every top-level subpackage of wizard/ is a layer of its own (its own subpackages, like
    wizard/files/dovecot/, belong to it)."""
    layers = set(allowed_imports())
    packages = {m for m, path in module_files() if path.name == "__init__.py"}
    assert {m for m in packages if m.startswith("wizard.") and m.count(".") == 1} <= layers
    assert {"wizard", "wizard.files", "wizard.change", "wizard.cli", "screens"} <= layers


def breaches(modules) -> list[str]:
    """Each import in `modules` ((module name, path) pairs) that the table does not allow."""
    table = allowed_imports()
    layers = set(table)
    wrong = []
    for module, path in modules:
        own = layer_of(module, layers)
        for line, name in imported(module, path):
            if not is_module(name):
                continue                  # a name imported from a module: the module is checked
            target = layer_of(name, layers)
            report = f"{path.name}:{line}: {own} imports {target}"
            if target != own and target not in table[own] and report not in wrong:
                wrong.append(report)
    return wrong


def test_each_package_imports_only_the_layers_below_it():
    assert breaches(module_files()) == []


def test_a_breach_is_caught(tmp_path):
    """The check itself: a rule that reached up to the screens or the change, even lazily inside
    a function, or through a relative import, is reported; a name from a lower layer is not."""
    bad = tmp_path / "bad.py"
    bad.write_text("from wizard.settings.model import Settings\n"
                   "from ..change import plan\n"
                   "def later():\n"
                   "    from screens.app import WizardApp\n")
    assert breaches([("wizard.rules.bad", bad)]) == [
        "bad.py:2: wizard.rules imports wizard.change",
        "bad.py:4: wizard.rules imports screens"]
    assert layer_of("wizard.files.dovecot.parser", set(allowed_imports())) == "wizard.files"


def test_core_imports_without_textual():
    names = [m.name for m in pkgutil.walk_packages(wizard.__path__, "wizard.")
             if not m.name.startswith(("wizard.shipped_presets", "wizard.samples"))
             and m.name != "wizard.__main__"]          # importing it runs the command line
    assert "wizard.rules" in names and "wizard.files.maincf" in names
    code = (f"import json, sys, importlib; [importlib.import_module(m) for m in {names!r}]; "
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'textual')))")
    result = subprocess.run([*wizard_process.python(), "-c", code], capture_output=True, text=True,
                            check=True)
    assert json.loads(result.stdout) == []
