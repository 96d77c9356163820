#!/usr/bin/env bash
# Set up tmet in the current shell: source it from the repository root (bash or zsh).
#
#   source setup.sh
#
# On a fresh machine it installs the Debian packages the tests need (when run as root),
# creates the virtual environment .venv (it sees Debian's gfal2 bindings), installs the
# pinned Python packages and indexes the law tasks. A second call only re-exports the
# environment and re-indexes, which takes a few seconds. A failing step says which one
# and why and returns non-zero; the shell itself stays usable.

action() {
    local this_file this_dir
    if [ -n "${BASH_VERSION:-}" ]; then
        this_file="${BASH_SOURCE[0]}"
    elif [ -n "${ZSH_VERSION:-}" ]; then
        this_file="${(%):-%x}"
    else
        echo "tmet setup: unsupported shell, use bash or zsh" >&2
        return 1
    fi
    this_dir="$( cd "$( dirname "${this_file}" )" && pwd )"

    local debian_packages="xrootd-server xrootd-client python3-gfal2 gfal2-plugin-xrootd gfal2-plugin-http gfal2-plugin-file g++ python3-venv"
    local venv="${this_dir}/.venv"
    local requirements="${this_dir}/requirements.txt"
    local stamp="${venv}/.tmet-requirements"

    local fail_msg="tmet setup: step"

    # step 1: Debian packages (XRootD server and client, gfal2 with its XRootD plugin, g++)
    local missing="" pkg
    for pkg in $(echo ${debian_packages}); do
        dpkg-query -W -f='${Status}' "${pkg}" 2>/dev/null | grep -q "install ok installed" || missing="${missing} ${pkg}"
    done
    if [ -n "${missing}" ]; then
        if [ "$(id -u)" = "0" ]; then
            echo "tmet setup: installing Debian packages:${missing}"
            { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${missing}; } > "${this_dir}/.setup-apt.log" 2>&1 \
                || { echo "${fail_msg} 'debian packages' failed: apt-get install${missing} failed, see ${this_dir}/.setup-apt.log" >&2; return 1; }
            rm -f "${this_dir}/.setup-apt.log"
        else
            echo "tmet setup: warning: Debian packages missing and not root, install them by hand:${missing}" >&2
        fi
    fi

    # step 2: virtual environment on the system python, so that Debian's gfal2 is visible
    if [ ! -x "${venv}/bin/python" ]; then
        echo "tmet setup: creating ${venv}"
        /usr/bin/python3 -m venv --system-site-packages "${venv}" \
            || { echo "${fail_msg} 'venv' failed: /usr/bin/python3 -m venv could not create ${venv}" >&2; return 1; }
    fi

    # step 3: pinned python packages, reinstalled only when requirements.txt changes
    local want
    want="$( cat "${requirements}" | sha256sum | cut -d' ' -f1 )"
    if [ ! -f "${stamp}" ] || [ "$( cat "${stamp}" )" != "${want}" ]; then
        echo "tmet setup: installing python packages from ${requirements}"
        { "${venv}/bin/python" -m pip install -q --upgrade pip && "${venv}/bin/python" -m pip install -q -r "${requirements}"; } \
            || { echo "${fail_msg} 'python packages' failed: pip install -r ${requirements} failed (pip output above)" >&2; return 1; }
        echo "${want}" > "${stamp}"
    fi

    # step 4: environment
    export TMET_BASE="${this_dir}"
    export LAW_HOME="${this_dir}/.law"
    export LAW_CONFIG_FILE="${this_dir}/law.cfg"
    export GFAL_PYTHONBIN="/usr/bin/python3"
    export PYTHONWARNINGS="ignore::UserWarning:ROOT"
    # RDataFrame graphs JIT-compiled at -O2 (cling's -O1 halves the event-loop speed), also
    # on Dask workers started from this environment
    export EXTRA_CLING_ARGS="${EXTRA_CLING_ARGS:--O2}"
    # malloc's heap on transparent huge pages where the kernel gives them on request (THP
    # "madvise"): a quarter fewer page faults, the main job about 6 % faster (docs/benchmarks.md)
    case ":${GLIBC_TUNABLES:-}:" in
        *"glibc.malloc.hugetlb="*) ;;
        *) export GLIBC_TUNABLES="${GLIBC_TUNABLES:+${GLIBC_TUNABLES}:}glibc.malloc.hugetlb=1" ;;
    esac
    case ":${PYTHONPATH:-}:" in
        *":${this_dir}:"*) ;;
        *) export PYTHONPATH="${this_dir}${PYTHONPATH:+:${PYTHONPATH}}" ;;
    esac
    case ":${PATH}:" in
        *":${venv}/bin:"*) ;;
        *) export PATH="${venv}/bin:${PATH}" ;;
    esac
    export VIRTUAL_ENV="${venv}"

    # step 5: law task index
    mkdir -p "${LAW_HOME}"
    local index_log="${LAW_HOME}/index.log"
    law index --verbose > "${index_log}" 2>&1 || {
        cat "${index_log}" >&2
        echo "${fail_msg} 'law index' failed: the task modules of law.cfg do not import (output above)" >&2
        return 1
    }

    # step 6: Jupyter kernels for notebooks/, in the user's kernels, where JupyterLab and
    # nbclient find them: this checkout's own, "tmet-<directory>-<digest of its path>"
    # (TMET_KERNEL), and "tmet", the one the user chose: it is installed for this checkout
    # where there is none yet, where it is this checkout's already, or where the user asks
    # for it (TMET_DEFAULT_KERNEL=1); another checkout's "tmet" is left as it is
    local path_digest
    path_digest="$( printf '%s' "${this_dir}" | sha256sum | cut -c1-6 )"
    export TMET_KERNEL="tmet-$( basename "${this_dir}" | tr 'A-Z' 'a-z' | tr -c 'a-z0-9_.\n-' '_' )-${path_digest}"
    local default_owner
    default_owner="$( python -c 'from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
try:
    print(KernelSpecManager().get_kernel_spec("tmet").argv[0])
except NoSuchKernel:
    pass' 2>/dev/null )"
    local kernel kernels="${TMET_KERNEL}"
    if [ -z "${default_owner}" ] || [ "${default_owner}" = "${venv}/bin/python" ] || [ "${TMET_DEFAULT_KERNEL:-}" = "1" ]; then
        kernels="${kernels} tmet"
    else
        echo "tmet setup: the Jupyter kernel 'tmet' stays with ${default_owner%/.venv/bin/python}; this checkout's is" \
             "'${TMET_KERNEL}' (TMET_DEFAULT_KERNEL=1 source setup.sh makes 'tmet' this checkout's)"
    fi
    for kernel in $(echo ${kernels}); do
        local display="tmet · $( basename "${this_dir}" ) (${this_dir})"
        [ "${kernel}" = "tmet" ] && display="tmet (default: ${this_dir})"
        python -m ipykernel install --user --name "${kernel}" --display-name "${display}" \
            --env TMET_BASE "${TMET_BASE}" --env LAW_CONFIG_FILE "${LAW_CONFIG_FILE}" \
            --env PYTHONPATH "${PYTHONPATH}" --env PATH "${PATH}" --env VIRTUAL_ENV "${venv}" \
            --env GFAL_PYTHONBIN "${GFAL_PYTHONBIN}" --env PYTHONWARNINGS "${PYTHONWARNINGS}" \
            --env GLIBC_TUNABLES "${GLIBC_TUNABLES}" --env TMET_KERNEL "${TMET_KERNEL}" \
            > "${LAW_HOME}/kernel.log" 2>&1 || {
            cat "${LAW_HOME}/kernel.log" >&2
            echo "${fail_msg} 'kernel' failed: python -m ipykernel install could not install the kernel ${kernel}" >&2
            return 1
        }
    done
    echo "tmet setup: ready, $(grep -c '^ *- ' "${index_log}") tasks indexed, outputs in ${TMET_STORE:-${this_dir}/store}"
}

action "$@"
