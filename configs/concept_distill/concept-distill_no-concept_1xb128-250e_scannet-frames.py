# Ablation "without concept extraction" (paper: 92.42 vs 92.71 on ModelNet40): no concept
# queries; the encoder's last-layer patch tokens, pooled to [max, mean], go to the same 2-layer
# MLP and ClipCap prefix target.
_base_ = ['./concept-distill_clipcap-mlp_1xb128-250e_scannet-frames.py']

model = dict(neck=None)
