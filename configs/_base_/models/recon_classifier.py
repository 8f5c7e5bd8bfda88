# ReCon's fine-tuning classifier (models/transformer.py PointTransformer): its encoder with the
# cls / img / text queries, no stop-gradient (detach_local=False), drop path 0.2;
# concat(cls, img, text, max-pool) (4C) -> the MLP head of point_classifier.py.
_base_ = ['./point_classifier.py']

model = dict(
    backbone=dict(
        _delete_=True,
        type='ReConPointTransformer',
        embed_dims=384,
        depth=12,
        num_heads=6,
        mlp_ratio=4.0,
        num_groups=64,
        group_size=32,
        drop_path_rate=0.2,
        num_queries=3,
        detach_local=False))
