# Ablation "direct local alignment": no concept queries, no caption model; each 3D patch token
# (an MLP of it) regresses the CLIP ViT-B/32 patch feature (the 7 x 7 grid's token after ln_post
# and the projection, 512) of the cell its centre point projects onto through the frame's
# camera (points_uv of the pipeline); patches whose centre falls outside the image are left out.
_base_ = ['./concept-distill_clipcap-mlp_1xb128-250e_scannet-frames.py']

model = dict(
    alignment='local',
    neck=None,
    img_teacher=dict(_delete_=True, type='CLIPImageTeacher', model_name='ViT-B-32-quickgelu',
                     checkpoint={{_base_.clip_teacher.checkpoint}}, channel_order='rgb',
                     output='patch_tokens'),
    head=dict(_delete_=True, type='PatchAlignHead', target_dims=512, grid_size=(7, 7),
              hidden_dims=768, loss=dict(type='mmdet.MSELoss', loss_weight=1.0)))
