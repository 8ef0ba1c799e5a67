# Sourced by scripts/run and scripts/test: make .venv (Python 3.11+) and install ftpkit into it.
# Usage: ftpkit_venv [EXTRAS]
ftpkit_venv() {
    local extras=${1:-}
    local py=${PYTHON:-python3}
    if [ ! -x .venv/bin/python ]; then
        if ! "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "ftpkit needs Python 3.11 or newer (set PYTHON=/path/to/python3.11)" >&2
            exit 1
        fi
        echo "creating .venv" >&2
        "$py" -m venv .venv
        .venv/bin/python -m pip install -q --upgrade pip
    fi
    echo "installing ftpkit${extras:+ [$extras]} into .venv" >&2
    .venv/bin/python -m pip install -q --disable-pip-version-check -e ".${extras:+[$extras]}"
}
