# Ablation "without the caption model" (paper: 92.18 vs 92.71 on ModelNet40): the concept tokens
# regress the frame's CLIP ViT-B/32 image embedding (512) directly; no ClipCap mapper.
_base_ = ['./concept-distill_clipcap-mlp_1xb128-250e_scannet-frames.py']

model = dict(
    img_teacher=dict(_delete_=True, type='CLIPImageTeacher', model_name='ViT-B-32-quickgelu',
                     checkpoint={{_base_.clip_teacher.checkpoint}}, channel_order='rgb'),
    head=dict(target_shape=(512, )))
