#!/usr/bin/env python
"""Fill the file lists of a real config from DAS, one LFN per line.

The config's dataset YAML names a text file per dataset key (a sample and each of its
extensions); this asks DAS (``dasgoclient``, with a valid grid proxy) for the files of each
key and writes them into its file list, so that file lists live in the config and never in
code. Usage:

    python scripts/das_file_lists.py run2_2018 [--dataset tt_sl ...]
"""

import argparse
import shutil
import subprocess
import sys

from config.analysis import get_config


def das_files(key):
    result = subprocess.run(["dasgoclient", f"-query=file dataset={key}"], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"dasgoclient failed for {key}: {result.stderr.strip()}")
    return sorted(line.strip() for line in result.stdout.splitlines() if line.strip())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", help="a config with real datasets, e.g. run2_2018")
    parser.add_argument("--dataset", nargs="*", help="only these datasets; default: all with a file list")
    args = parser.parse_args()
    if not shutil.which("dasgoclient"):
        sys.exit("dasgoclient not found: run this where the CMS software environment provides it")
    config = get_config(args.config)
    for dataset in config.datasets:
        if dataset.x.synthetic or (args.dataset and dataset.name not in args.dataset):
            continue
        for key, file_list in zip(dataset.x.keys, dataset.x.file_lists):
            files = das_files(key)
            with open(file_list, "w") as f:
                f.write(f"# LFNs of {key} (from DAS)\n" + "\n".join(files) + "\n")
            print(f"{dataset.name}: {len(files)} files of {key} -> {file_list}")


if __name__ == "__main__":
    main()
