#!/usr/bin/env bash
# Set up the environment (idempotent), write the demo objects (once) and pre-train Point-MAE on
# them, then evaluate the masked reconstruction on the demo test split.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$repo/tools/setup_env.sh"
cd "$repo"
py="$repo/.venv/bin/python"
[ -f data/demo_shapenet/ShapeNet-55/train.txt ] || "$py" tools/create_demo_data.py --out data/demo_shapenet
work=work_dirs/point_mae_pretrain_demo
"$py" tools/train.py configs/point_mae_pretrain_demo.py --work-dir "$work" "$@"
"$py" tools/test.py configs/point_mae_pretrain_demo.py "$(cat "$work/last_checkpoint")" --work-dir "$work"
