#!/usr/bin/env bash
# Set up the environment (idempotent), write the demo objects (once) and pre-train Point-MAE on
# them, evaluate the masked reconstruction on the demo test split, then probe the pre-trained
# encoder beside a randomly initialised one with a linear SVM on the demo classes.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$repo/tools/setup_env.sh"
cd "$repo"
py="$repo/.venv/bin/python"
[ -f data/demo_shapenet/ShapeNet-55/train.txt ] || "$py" tools/create_demo_data.py --out data/demo_shapenet
work=work_dirs/point_mae_pretrain_demo
"$py" tools/train.py configs/point_mae_pretrain_demo.py --work-dir "$work" "$@"
ckpt="$(cat "$work/last_checkpoint")"
"$py" tools/test.py configs/point_mae_pretrain_demo.py "$ckpt" --work-dir "$work"
# linear SVM (fit on the demo train split, scored on its test split): pre-trained vs random init
"$py" tools/analysis_tools/svm_probe.py configs/point_mae_pretrain_demo.py "$ckpt" --random-init \
    --work-dir "$work/svm_probe" --out "$work/svm_probe.json"
