#!/usr/bin/env bash
# Multi-process training: tools/dist_train.sh CONFIG NUM_PROCS [train.py args...]
# Multi-node: run on every node with NNODES, NODE_RANK, MASTER_ADDR (node 0) and PORT set.
# Without GPUs the processes train on CPU with the gloo backend.
CONFIG=$1
GPUS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
# the interpreter: $PYTHON, else the project environment (.venv), else python on PATH
source "$(dirname "$0")/misc/find_python.sh"

PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
"$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" \
    --master_port="$PORT" \
    "$(dirname "$0")/train.py" \
    "$CONFIG" \
    --launcher pytorch "${@:3}"
