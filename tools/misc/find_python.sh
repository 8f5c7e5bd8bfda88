# Sourced by tools/dist_train.sh, tools/dist_test.sh and tools/slurm_train.sh: sets PYTHON to
# the interpreter that runs the tools. In order: $PYTHON if set; the project environment made
# by tools/setup_env.sh ($PT3KD_VENV, default <repo>/.venv) if it exists; python on PATH.
# Stops the calling script with a message when that interpreter cannot import torch.
_pt3kd_repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
if [ -z "${PYTHON:-}" ]; then
    _pt3kd_venv="${PT3KD_VENV:-$_pt3kd_repo/.venv}"
    if [ -x "$_pt3kd_venv/bin/python" ]; then
        PYTHON="$_pt3kd_venv/bin/python"
    else
        PYTHON=python
    fi
fi
if ! "$PYTHON" -c 'import torch' >/dev/null 2>&1; then
    echo "$(basename "$0"): the interpreter '$PYTHON' is missing or cannot import torch." >&2
    echo "Create the project environment with tools/setup_env.sh (it makes" \
         "${PT3KD_VENV:-$_pt3kd_repo/.venv}, used when present), or set" \
         "PYTHON=/path/to/bin/python of an environment with pt3kd_mm's requirements." >&2
    exit 1
fi
