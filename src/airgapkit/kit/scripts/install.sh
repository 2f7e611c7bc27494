#!/bin/sh
# Install airgapkit from this kit with no network: sh install.sh [--python PYTHON] [--prefix DIR | --venv DIR]
#
# Finds a Python 3.10 or later that the kit holds wheels for (--python names one), then runs the
# kit's install.py with it: a virtual environment, pip install --no-index --require-hashes from the
# kit's wheels, and the installed version printed. Nothing reaches a network.
set -eu
here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
python=""
if [ "${1:-}" = "--python" ]; then
    [ $# -ge 2 ] || { echo "install.sh: --python needs a program (python3.12, /usr/bin/python3)" >&2; exit 2; }
    python=$2
    shift 2
fi
if [ -n "$python" ]; then
    if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
        echo "install.sh: $python is not a Python 3.10 or later; name another with --python, or use the kit's single executable" >&2
        exit 1
    fi
    exec "$python" "$here/install.py" "$@"
fi
candidates="python3 python3.13 python3.12 python3.11 python3.10 python"
fallback=""
for candidate in $candidates; do
    command -v "$candidate" >/dev/null 2>&1 || continue
    "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null || continue
    [ -n "$fallback" ] || fallback=$candidate
    if "$candidate" "$here/install.py" --check-target 2>/dev/null; then
        exec "$candidate" "$here/install.py" "$@"
    fi
done
if [ -n "$fallback" ]; then
    exec "$fallback" "$here/install.py" "$@"  # it says which targets the kit holds
fi
echo "install.sh: no Python 3.10 or later found (tried: $candidates); name one with --python PATH, or use the kit's single executable" >&2
exit 1
