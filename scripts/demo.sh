#!/usr/bin/env bash
# Set up the runtime (no torch) and run the main job: a live jam with the shipped default model.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh runtime
exec .venv/bin/livegen demo "$@"
