"""Execute a notebook headless with this checkout's Jupyter kernel (``$TMET_KERNEL``, which
setup.sh installs and exports) and write it with its outputs: what CI does with
notebooks/tmet_interactive.ipynb.

    python scripts/run_notebook.py notebooks/tmet_interactive.ipynb executed.ipynb [--kernel NAME]

The kernel gets this environment (TMET_STORE, TMET_DASK_SCHEDULER, TMET_NOTEBOOK_VERSION, ...).
"""

import argparse
import os
import sys


def checked_kernel(name=None):
    """The kernel ``name`` (default: $TMET_KERNEL, this checkout's), refused where it runs
    another interpreter than this process's (another checkout's code), naming both."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    name = name or os.environ.get("TMET_KERNEL")
    if not name:
        raise SystemExit("no kernel named: `source setup.sh` installs this checkout's and exports TMET_KERNEL")
    try:
        spec = KernelSpecManager().get_kernel_spec(name)
    except NoSuchKernel:
        raise SystemExit(f"no Jupyter kernel '{name}': `source setup.sh` installs it") from None
    if os.path.abspath(spec.argv[0]) != os.path.abspath(sys.executable):
        raise SystemExit(f"the Jupyter kernel '{name}' runs {spec.argv[0]}, not this checkout's {sys.executable}")
    return name


def execute(notebook, output, env=None, timeout=1800, kernel=None):
    """Run every cell of ``notebook`` in a fresh ``kernel`` (default: this checkout's, see
    ``checked_kernel``) with ``env`` (default: this process's environment) and write the
    executed notebook to ``output``; returns it."""
    import nbformat
    from nbclient import NotebookClient

    kernel = checked_kernel(kernel)
    nb = nbformat.read(notebook, as_version=4)
    client = NotebookClient(nb, kernel_name=kernel, timeout=timeout,
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
    parser.add_argument("--kernel", help="Jupyter kernel (default: $TMET_KERNEL, this checkout's)")
    args = parser.parse_args(argv)
    execute(args.notebook, args.output, timeout=args.timeout, kernel=args.kernel)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
