# 10-vote test of a Point-MAE ModelNet40 classifier (the runner's test_vote):
#   python tools/test.py configs/classification/point_mae_finetune_modelnet40-1k_vote.py CKPT
# FPS 1200 per test cloud; per view a random 1024 of them, a random per-axis scale in
# [2/3, 3/2) and shift in [-0.2, 0.2); the 10 views' logits averaged. One run (the reference's
# test() keeps the best of 300 such runs).
_base_ = ['./point_mae_finetune_modelnet40-1k.py']
model = dict(
    backbone=dict(init_cfg=None),
    vote=dict(num_votes=10, num_points=1024, scale_range=(2. / 3., 3. / 2.),
              translate_range=0.2))
test_dataloader = dict(dataset=dict(pipeline={{_base_.vote_test_pipeline}}))
