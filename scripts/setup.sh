#!/usr/bin/env bash
# Set up livegen on a fresh Debian/Ubuntu machine with Python 3.11: system packages, a venv, pip.
#   bash scripts/setup.sh runtime   # the runtime only (no torch): what a musician needs
#   bash scripts/setup.sh dev       # + training, export and test tools (torch pinned, CPU build)
# Idempotent: re-running skips what is already there. Quiet, but says what each slow step is doing
# (about a minute on a fresh machine, mostly apt and pip downloads).
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-runtime}"
case "$what" in runtime|dev) ;; *) echo "error: unknown setup '$what'; choose runtime or dev" >&2; exit 2;; esac

say() { echo "setup: $*" >&2; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
  echo "error: need root (or sudo) to run: $*" >&2; exit 1; fi; }

apt_install() {
  # Installs only the Debian packages that are missing; updates the index once if needed.
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing system packages with apt-get: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1 || {
    say "updating the apt package index, then installing again"
    as_root apt-get update -q >/dev/null && as_root apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; }
}

python=""
for candidate in python3.11 python3; do
  if command -v "$candidate" >/dev/null &&
     "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    python="$candidate"; break
  fi
done
if [ -z "$python" ]; then apt_install python3.11 python3.11-venv; python=python3.11; fi

# JACK (dummy driver) carries MIDI on machines with no sound card; fluidsynth renders the demo.
command -v jackd >/dev/null || apt_install jackd2
# A C compiler builds the JACK client's GIL-free process callback (livegen/live/_jack_rt.c); the
# install goes on without one, with the Python callback instead.
command -v cc >/dev/null || apt_install gcc || true
command -v fluidsynth >/dev/null || apt_install fluidsynth fluid-soundfont-gm || true
# qemu-user runs a test under an emulated AVX2 CPU without AVX-512/VNNI (int8 kernels differ there).
[ "$what" = dev ] && { command -v qemu-x86_64 >/dev/null || apt_install qemu-user || true; }
# mma renders band parts from chord charts (`livegen data render-band`; its tests skip without it).
[ "$what" = dev ] && { command -v mma >/dev/null || apt_install mma || true; }

if [ ! -x .venv/bin/python ]; then
  say "creating the virtual environment .venv ($python)"
  "$python" -m venv .venv 2>/dev/null || { apt_install python3-venv "${python}-venv" || true; rm -rf .venv; "$python" -m venv .venv; }
fi
# constraints.txt: the versions CI last passed with, so a fresh machine resolves the same ones
# (pyproject.toml keeps ranges; regenerate with scripts/pin.sh after an upgrade passes).
pip=(.venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt)
if [ "$what" = dev ]; then
  # Pinned: a looser torch spec downloads a multi-GB CUDA build.
  say "pip: torch==2.13.0 (the largest download, the first time)"
  "${pip[@]}" "torch==2.13.0"
  say "pip: livegen (editable) with the train, export, languages and dev extras (onnx, miditok, pytest, ...)"
  "${pip[@]}" -e ".[train,export,languages,dev]"
else
  say "pip: livegen (editable) and its runtime (onnxruntime, numpy, mido, python-rtmidi, ...)"
  "${pip[@]}" -e .
fi
say "$what ready in .venv"
