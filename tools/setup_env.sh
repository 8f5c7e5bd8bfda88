#!/usr/bin/env bash
# One environment for everything: a virtual environment in <repo>/.venv with the pinned
# OpenMMLab stack, mmcv with its CPU ops, and pt3kd_mm in editable mode. Idempotent: a second
# run with unchanged requirements returns at once.
#
#   PT3KD_WHEEL_DIR  optional folder with a prebuilt mmcv wheel for exactly these pins
#                    (mmcv-2.1.0-cp311-cp311-linux_x86_64.whl); without one mmcv is built from
#                    source (~25 min on 2 cores).
#   PT3KD_VENV       optional path of the environment (default <repo>/.venv).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${PT3KD_VENV:-$repo/.venv}"
python_bin="${PYTHON:-python3}"
stamp="$venv/.pt3kd_setup_stamp"
want_stamp="$(cat "$repo"/requirements/*.txt "$repo/tools/setup_env.sh" "$repo/setup.py" | sha256sum | cut -d' ' -f1)"

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want_stamp" ] && "$venv/bin/python" -c "import pt3kd_mm, mmcv.ops" 2>/dev/null; then
    echo "[setup_env] $venv is up to date"
    exit 0
fi

log() { echo "[setup_env] $*"; }
if [ ! -x "$venv/bin/python" ]; then
    log "creating virtual environment $venv"
    "$python_bin" -m venv "$venv"
fi
py="$venv/bin/python"
pip=("$py" -m pip install --disable-pip-version-check)

log "installing the pinned stack (requirements/lock.txt)"
"${pip[@]}" -r "$repo/requirements/lock.txt" -r "$repo/requirements/tests.txt"

mmcv_ok() { "$py" - <<'PY' 2>/dev/null
import mmcv, mmcv.ops
from mmcv.ops import knn, furthest_point_sample  # noqa: F401
assert mmcv.__version__ == '2.1.0'
PY
}
if mmcv_ok; then
    log "mmcv 2.1.0 with ops already installed"
else
    wheel=""
    if [ -n "${PT3KD_WHEEL_DIR:-}" ] && [ -d "$PT3KD_WHEEL_DIR" ]; then
        tag="$("$py" -c 'import sys; print(f"cp{sys.version_info.major}{sys.version_info.minor}")')"
        torch_ver="$("$py" -c 'import torch; print(torch.__version__.split("+")[0])')"
        cand="$(ls "$PT3KD_WHEEL_DIR"/mmcv-2.1.0-"$tag"-"$tag"-linux_"$(uname -m)".whl 2>/dev/null | head -n1 || true)"
        if [ -n "$cand" ] && [ "$torch_ver" = "2.14.1" ]; then
            wheel="$cand"
        else
            log "no mmcv wheel for $tag / torch $torch_ver / $(uname -m) in $PT3KD_WHEEL_DIR"
        fi
    fi
    if [ -n "$wheel" ]; then
        log "installing mmcv from $wheel"
        "${pip[@]}" --no-deps --force-reinstall "$wheel"
    else
        log "building mmcv 2.1.0 with CPU ops from source (about 25 minutes on 2 cores)"
        build="$(mktemp -d)"
        "$py" -m pip download --disable-pip-version-check --no-deps --no-build-isolation \
            --no-binary :all: mmcv==2.1.0 -d "$build"
        tar -xzf "$build"/mmcv-2.1.0.tar.gz -C "$build"
        # torch >= 2.6 headers need C++20; mmcv 2.1.0 asks for C++17.
        sed -i 's/-std=c++17/-std=c++20/g' "$build/mmcv-2.1.0/setup.py"
        (cd "$build/mmcv-2.1.0" && MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS="$(nproc)" \
            "${pip[@]}" --no-build-isolation --no-deps .)
        rm -rf "$build"
    fi
    mmcv_ok || { log "mmcv.ops does not import after install"; exit 1; }
fi

log "installing mmdet3d 1.4.0 (--no-deps) and pt3kd_mm (editable)"
"${pip[@]}" --no-deps mmdet3d==1.4.0
"${pip[@]}" --no-deps --no-build-isolation -e "$repo"
"$py" -c "import numpy; assert numpy.__version__.startswith('1.'), numpy.__version__; import mmdet3d, mmpretrain, open_clip, pt3kd_mm"
echo "$want_stamp" > "$stamp"
log "done: $venv"
