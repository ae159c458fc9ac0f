#!/usr/bin/env bash
# What the tests need besides Go, installed where missing on Debian
# (bookworm): python3-numpy for /usr/bin/python3 (the independent reference
# of the end-to-end tests and bench/probe.py), python3-torch (trains the small
# nets whose activations the value statistics' end-to-end test profiles;
# 171 packages, about 580 MiB, 80 s to install), chromium (the headless
# browser that the HTML report's test drives), nodejs and npm (which install
# npm's apache-arrow and parquet-wasm, the independent writers of the Arrow
# and Parquet reader tests' files: .ci/node-deps.sh), slurm-wlm and munge (a
# one-node Slurm cluster for the Slurm examples' test, make test-slurm; as
# root only), and nvidia-cuda-toolkit from
# non-free (nvcc, cuda.h, libcuda: make cuda-check and the cuda-tagged
# builds). Quiet, and quick, when all are there. apt-get runs through sudo
# when not root, each install tried three times; its output is shown only
# when it fails.
#
# A missing NumPy that cannot be installed is an error (make test cannot
# pass without it). A missing PyTorch that cannot be installed is an error
# under CI (CI set), else a warning: make test then skips the value
# statistics' end-to-end test. A missing CUDA toolkit that cannot be installed is an
# error under CI (CI set), else a warning: make test then skips cuda-check;
# likewise chromium (make test then skips the browser test) and the Arrow
# writers (make test then skips the Arrow and Parquet reader tests).
# ACTPROF_DEPS_CUDA=0 leaves the CUDA toolkit out.
#
# Called by make deps (so by make test) and by .ci/run.
set -euo pipefail

py=/usr/bin/python3
have_numpy() { "$py" -c 'import numpy' >/dev/null 2>&1; }
have_torch() { "$py" -c 'import torch' >/dev/null 2>&1; }
have_chromium() { command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; }
have_node() { command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; }
have_arrow_writers() { have_node && bash "$(dirname "$0")/node-deps.sh" >/dev/null; }
have_slurm() { [ -x /usr/sbin/slurmctld ] && [ -x /usr/sbin/munged ] && command -v sbatch >/dev/null 2>&1; }
want_slurm() { [ "$(id -u)" -eq 0 ]; } # the local cluster runs jobs as root
have_cuda() { command -v nvcc >/dev/null 2>&1 && [ -f /usr/include/cuda.h ]; }
want_cuda() { [ "${ACTPROF_DEPS_CUDA:-1}" != 0 ]; }
strict() { [ -n "${CI:-}" ] && [ "${CI}" != 0 ] && [ "${CI}" != false ]; }

if have_numpy && have_torch && have_chromium && have_arrow_writers && { ! want_slurm || have_slurm; } && { ! want_cuda || have_cuda; }; then
  exit 0
fi

sudo_cmd="" # word-split on use: "", "sudo" or "sudo -n"
can_sudo=1
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    can_sudo=0
  elif [ -t 0 ]; then
    sudo_cmd="sudo"
  else
    sudo_cmd="sudo -n" # no password prompt without a terminal
  fi
fi

log=$(mktemp "${TMPDIR:-/tmp}/actprof-deps.XXXXXX")
trap 'rm -f "$log"' EXIT

# apt_install PACKAGE...: apt-get update and install, three tries.
apt_install() {
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "deps: no apt-get here: install $* by hand" >&2
    return 1
  fi
  if [ "$can_sudo" -eq 0 ]; then
    echo "deps: not root and no sudo: cannot install $*" >&2
    return 1
  fi
  local try
  for try in 1 2 3; do
    if { $sudo_cmd apt-get update -qq &&
      $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        -o DPkg::Lock::Timeout=120 --no-install-recommends "$@"; } >"$log" 2>&1; then
      return 0
    fi
    echo "deps: apt-get install $* failed (try $try of 3)" >&2
    [ "$try" -eq 3 ] || sleep $((10 * try))
  done
  tail -n 20 "$log" >&2
  return 1
}

if ! have_numpy; then
  echo "deps: installing python3-numpy (reference for the end-to-end tests)"
  if ! apt_install python3-numpy || ! have_numpy; then
    echo "deps: $py cannot import numpy, which make test needs (Debian: apt-get install python3-numpy)" >&2
    exit 1
  fi
fi

if ! have_torch; then
  echo "deps: installing python3-torch (trains the nets of the value statistics' end-to-end test)"
  if ! apt_install python3-torch || ! have_torch; then
    if strict; then
      echo "deps: $py cannot import torch and it could not be installed (Debian: apt-get install python3-torch)" >&2
      exit 1
    fi
    echo "deps: warning: no PyTorch: make test skips the value statistics' end-to-end test" >&2
  fi
fi

if ! have_chromium; then
  echo "deps: installing chromium (the headless browser of the HTML report's test)"
  if ! apt_install chromium || ! have_chromium; then
    if strict; then
      echo "deps: chromium is missing and could not be installed (Debian: apt-get install chromium)" >&2
      exit 1
    fi
    echo "deps: warning: no chromium: make test skips the HTML report's browser test" >&2
  fi
fi

if ! have_node; then
  echo "deps: installing nodejs and npm (they install the Arrow and Parquet tests' writers)"
  apt_install nodejs npm || true
fi
if ! have_arrow_writers; then
  if strict; then
    echo "deps: npm's apache-arrow and parquet-wasm are missing and could not be installed (.ci/node-deps.sh)" >&2
    exit 1
  fi
  echo "deps: warning: no apache-arrow/parquet-wasm on Node.js: make test skips the Arrow and Parquet reader tests" >&2
fi

if want_slurm && ! have_slurm; then
  echo "deps: installing slurm-wlm and munge (a one-node cluster for the Slurm examples' test)"
  if ! apt_install slurm-wlm munge || ! have_slurm; then
    if strict; then
      echo "deps: Slurm is missing and could not be installed (Debian: apt-get install slurm-wlm munge)" >&2
      exit 1
    fi
    echo "deps: warning: no Slurm: make test skips the Slurm examples' test" >&2
  fi
fi

if want_cuda && ! have_cuda; then
  echo "deps: installing nvidia-cuda-toolkit from Debian non-free (nvcc, cuda.h, libcuda)"
  if ! grep -rqs "non-free" /etc/apt/sources.list /etc/apt/sources.list.d/; then
    id="" codename=""
    if [ -r /etc/os-release ]; then
      id=$(. /etc/os-release && echo "${ID:-}")
      codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
    fi
    if [ "$id" = debian ] && [ "$can_sudo" -eq 1 ]; then
      codename=${codename:-bookworm}
      printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: %s %s-updates\nComponents: main contrib non-free non-free-firmware\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
        "$codename" "$codename" | $sudo_cmd tee /etc/apt/sources.list.d/actprof-nonfree.sources >/dev/null || true
    fi
  fi
  if ! apt_install nvidia-cuda-toolkit || ! have_cuda; then
    if strict; then
      echo "deps: the CUDA toolkit (nvcc, /usr/include/cuda.h) is missing and could not be installed" >&2
      exit 1
    fi
    echo "deps: warning: no CUDA toolkit (nvcc, /usr/include/cuda.h): make test skips cuda-check" >&2
  fi
fi
