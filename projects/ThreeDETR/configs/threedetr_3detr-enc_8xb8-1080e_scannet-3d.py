# 3DETR with its own encoder, trained from scratch: the baseline (reported 62.1 AP25 / 37.9 AP50)
_base_ = ['./_base_/threedetr_8xb8-1080e_scannet-3d.py']
