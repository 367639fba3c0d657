"""Executes a notebook headless with nbclient; exits non-zero if any cell raises.

Usage: run_notebook.py NOTEBOOK [--cwd DIR] [--out EXECUTED.ipynb] [--timeout SECONDS]

The kernel is this interpreter (sys.executable) running ipykernel, whatever kernels are installed
for the user or system-wide: the notebooks run with the test virtualenv's packages. The environment
is passed on to the kernel, so MLFLOW_TRACKING_URI, MLOPS_BIN, MLOPS_NOTEBOOK_RESULT … reach it.
"""

import argparse
import sys
from pathlib import Path

import nbformat
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager, NoSuchKernel
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError


class ThisPythonOnly(KernelSpecManager):
    """Knows one kernel, "python3": ipykernel on the interpreter running this script."""

    def find_kernel_specs(self):
        return {"python3": str(Path(sys.executable).parent)}

    def get_kernel_spec(self, kernel_name):
        if kernel_name != "python3":
            raise NoSuchKernel(kernel_name)
        return KernelSpec(
            argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            display_name="Python 3 (test virtualenv)",
            language="python",
            resource_dir=str(Path(sys.executable).parent),
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("--cwd", type=Path, help="working directory of the kernel [default: the notebook's directory]")
    parser.add_argument("--out", type=Path, help="write the executed notebook here")
    parser.add_argument("--timeout", type=int, default=600, help="per-cell timeout in seconds")
    args = parser.parse_args()

    nb = nbformat.read(args.notebook, as_version=4)
    cwd = (args.cwd or args.notebook.parent).resolve()
    km = KernelManager(kernel_name="python3", kernel_spec_manager=ThisPythonOnly())
    client = NotebookClient(
        nb,
        km=km,
        timeout=args.timeout,
        kernel_name="python3",
        allow_errors=False,
        resources={"metadata": {"path": str(cwd)}},
    )
    failed = None
    try:
        client.execute()
    except CellExecutionError as error:
        failed = error
    finally:
        if args.out:
            nbformat.write(nb, args.out)
    if failed is not None:
        print(f"{args.notebook}: a cell failed\n{failed}", file=sys.stderr)
        return 1
    # Belt and braces: an error output anywhere is a failure, even if nbclient let it through.
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                print(f"{args.notebook}: cell {index} raised {output.get('ename')}", file=sys.stderr)
                return 1
    print(f"{args.notebook}: {sum(c.cell_type == 'code' for c in nb.cells)} code cells ran", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
