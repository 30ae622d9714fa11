#!/usr/bin/env bash
# Rewrite constraints.txt from the dev venv after the tests pass with upgraded packages:
#   .venv/bin/python -m pip install -U <pkg>; bash scripts/test.sh && bash scripts/pin.sh
set -euo pipefail
cd "$(dirname "$0")/.."
{
  echo "# Versions the tests last passed with; scripts/setup.sh installs with -c constraints.txt."
  echo "# Regenerate with scripts/pin.sh. pyproject.toml keeps the ranges a user's install may take."
  .venv/bin/python -m pip freeze --exclude-editable --disable-pip-version-check |
    sed -E 's/^torch==([0-9.]+)\+cpu$/torch==\1/' | grep -v -i '^livegen'
} > constraints.txt
echo "pin: wrote constraints.txt ($(grep -c '==' constraints.txt) packages)" >&2
