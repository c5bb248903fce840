"""Build executed notebooks from the tutorial scripts: `make notebooks` runs this.

Each `tutorials/NN_*.py` is a jupytext percent-format script. This turns every one (or the ones
named) into a notebook, runs it cell by cell in a fresh Python kernel, and writes the notebook
with its outputs and figures to `tutorials/notebooks/NN_*.ipynb` (build output, not committed),
so that a reader can open it with everything in place:

    python tutorials/build_notebooks.py                    # all of them, full mode
    python tutorials/build_notebooks.py 03_attention       # one
    MINISBERT_FAST=1 python tutorials/build_notebooks.py   # quick check, as the tests do

Needs the `docs` extra (`pip install -e ".[docs]"`: jupytext, nbclient, ipykernel). A cell
that fails stops the build with the tutorial's name and the error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def tutorials(names: list[str] | None = None) -> list[Path]:
    """The tutorial scripts in order, or the ones named (with or without .py)."""
    found = sorted(HERE.glob("[0-9][0-9]_*.py"))
    if not names:
        return found
    chosen = [p for p in found if p.stem in {n.removesuffix(".py") for n in names}]
    unknown = set(n.removesuffix(".py") for n in names) - {p.stem for p in chosen}
    if unknown:
        raise SystemExit(
            f"no tutorial named {', '.join(sorted(unknown))}; choose from {[p.stem for p in found]}"
        )
    return chosen


def build_notebook(script: Path, output_dir: Path, timeout: int = 1800) -> Path:
    """Convert `script` to a notebook, execute it in `tutorials/` and write it into `output_dir`."""
    import jupytext
    import nbformat
    from nbclient import NotebookClient

    notebook = jupytext.read(script)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    client = NotebookClient(
        notebook, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(HERE)}}
    )
    client.execute()
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / f"{script.stem}.ipynb"
    nbformat.write(notebook, path)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="tutorials to build (default: all)")
    parser.add_argument("--output", type=Path, default=HERE / "notebooks", help="where the .ipynb files go")
    args = parser.parse_args(argv)
    for script in tutorials(args.names):
        print(f"executing {script.name} ...", flush=True)
        try:
            path = build_notebook(script, args.output)
        except Exception as err:  # nbclient raises CellExecutionError with the cell and traceback
            print(f"{script.name} failed:\n{err}", file=sys.stderr)
            return 1
        print(f"  wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
