"""Execute a notebook headless with the kernel "tmet" (installed by setup.sh) and write it
with its outputs: what CI does with notebooks/tmet_interactive.ipynb.

    python scripts/run_notebook.py notebooks/tmet_interactive.ipynb executed.ipynb

The kernel gets this environment (TMET_STORE, TMET_DASK_SCHEDULER, TMET_NOTEBOOK_VERSION, ...).
"""

import argparse
import os
import sys


def check_kernel():
    """The "tmet" kernel is user-wide: refuse one another checkout's setup.sh installed (it
    would run that checkout's code), naming both interpreters."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec("tmet")
    except NoSuchKernel:
        raise SystemExit("no Jupyter kernel 'tmet': `source setup.sh` installs it") from None
    if os.path.abspath(spec.argv[0]) != os.path.abspath(sys.executable):
        raise SystemExit(f"the Jupyter kernel 'tmet' runs {spec.argv[0]}, not this checkout's {sys.executable}: "
                         f"`source setup.sh` here installs it for this checkout")


def execute(notebook, output, env=None, timeout=1800):
    """Run every cell of ``notebook`` in a fresh "tmet" kernel with ``env`` (default: this
    process's environment) and write the executed notebook to ``output``; returns it."""
    import nbformat
    from nbclient import NotebookClient

    check_kernel()
    nb = nbformat.read(notebook, as_version=4)
    client = NotebookClient(nb, kernel_name="tmet", timeout=timeout,
                            resources={"metadata": {"path": os.path.dirname(os.path.abspath(notebook))}})
    try:
        client.execute(env=dict(env if env is not None else os.environ))
    finally:  # a failed cell's notebook is written too, with its traceback
        nbformat.write(nb, output)
    return nb


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebook")
    parser.add_argument("output")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell (default 1800)")
    args = parser.parse_args(argv)
    execute(args.notebook, args.output, timeout=args.timeout)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
