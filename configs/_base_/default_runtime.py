# Runtime shared by every pt3kd_mm config: mmdet3d's own defaults + our package.
_base_ = ['mmdet3d::_base_/default_runtime.py']

default_scope = 'mmdet3d'
custom_imports = dict(imports=['pt3kd_mm'], allow_failed_imports=False)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20),
    checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=3, save_last=True))

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='Det3DLocalVisualizer', vis_backends=vis_backends, name='visualizer')
