"""Convert checkpoints of the reference ACT code (RunpeiDong/ACT) into pt3kd_mm's keys.

    # stage 1 (ACTPromptedDiscreteVAEwithVIT, a timm ViT teacher): our ACTAutoencoder weights +
    # the frozen 2D blocks as a timm-layout state dict (model.vit_blocks.checkpoint)
    python tools/model_converters/act_to_pt3kd.py ckpt_act_dvae.pth act_stage1.pth \
        --layout stage1 --vit-out act_stage1_vit_blocks.pth
    # stage 2 (ACT_PointDistillation): our ACT model (backbone / neck / head); with
    # --stage1-out also its frozen stage-1 teacher (and --vit-out its 2D blocks)
    python tools/model_converters/act_to_pt3kd.py act_pretrain.pth act_pretrain_pt3kd.pth \
        --layout pretrain
    # fine-tuned (PointTransformer): configs/classification/act_*'s PointClassifier (backbone.*
    # and the classification head as head.*; load_from, or the encoder alone with
    # init_cfg=dict(type='Pretrained', checkpoint=..., prefix='backbone.'))
    python tools/model_converters/act_to_pt3kd.py act_finetuned.pth act_encoder.pth \
        --layout finetune

Weights are read from ``base_model`` (or ``model``), with or without ``module.``. Every key
without a counterpart is printed by name; a file of another layout is refused. Load the outputs
with ``load_from`` / ``init_cfg=dict(type='Pretrained', checkpoint=...)`` (stage 2,
fine-tuned) or ``model.teacher.checkpoint`` / ``model.vit_blocks.checkpoint`` (stage 1).

A converted stage-1 model records the 2D blocks file written next to it (its sha256, as a
stage-1 run of ours records its 2D file): stage 2 then refuses any other 2D file. Use the
``--vit-out`` file (not the original timm download, whose bytes differ) as
``vit_blocks.checkpoint``.
"""
import argparse
import os.path as osp
from typing import Callable, Dict, List, Optional

import torch
from torch import Tensor

from pt3kd_mm.models.teachers.frozen_vit_blocks import vit_record_tensor, vit_weights_fingerprint
from pt3kd_mm.utils.reference_checkpoint import (Rule, block_rules, convert_keys,
                                                 finetune_head_rules, fix_conv_weights,
                                                 fix_patch_embed, load_reference_state,
                                                 patch_encoder_rules, report_keys,
                                                 require_layout, save_converted)

LAYOUTS = ('stage1', 'pretrain', 'finetune')


def dgcnn_rules(name: str) -> List[Rule]:
    """Reference ``DGCNN`` (Conv1d / Conv2d ``layer1..5``) -> ``TokenDGCNN``."""
    rules = [(rf'^{name}\.input_trans\.', f'{name}.input_trans.')]
    rules += [(rf'^{name}\.layer{j}\.', f'{name}.edge_layers.{j - 1}.') for j in range(1, 5)]
    return rules + [(rf'^{name}\.layer5\.', f'{name}.out_layer.')]


STAGE1_RULES: List[Rule] = [
    *patch_encoder_rules('', ''),
    *dgcnn_rules('dgcnn_1'),
    *dgcnn_rules('dgcnn_2'),
    (r'^codebook$', 'codebook'),
    (r'^proj_pre\.', 'input_proj.'),
    (r'^proj_post\.', 'output_proj.'),
    (r'^visual_pos_embed\.', 'pos_embed.'),
    (r'^visual_prompt_token$', 'prompt_tokens'),
    (r'^visual_prompt_pos$', 'prompt_pos'),
    (r'^deep_prompt_tokens$', 'deep_prompt_tokens'),
    (r'^deep_prompt_pos$', 'deep_prompt_pos'),
    (r'^decoder\.mlp\.', 'decoder.coarse_mlp.'),
    (r'^decoder\.final_conv\.', 'decoder.fold.'),
]
# the frozen 2D model of stage 1 (timm: nn.Sequential(blocks, norm)) -> a timm state dict
VIT_RULES: List[Rule] = [
    (r'^visual_embed\.0\.(\d+)\.', r'blocks.\1.'),
    (r'^visual_embed\.1\.', 'norm.'),
]
PRETRAIN_RULES: List[Rule] = [
    *patch_encoder_rules(r'ACT_encoder\.', 'backbone.'),
    (r'^ACT_encoder\.cls_token$', 'backbone.cls_token'),
    (r'^ACT_encoder\.cls_pos$', 'backbone.cls_pos'),
    *block_rules(r'ACT_encoder\.blocks\.blocks\.(\d+)\.', r'backbone.transformer.blocks.\1.'),
    (r'^ACT_encoder\.norm\.', 'backbone.norm.'),
    (r'^ACT_encoder\.(lm_head|cls_head)\.', None),  # unused by the distillation loss
    (r'^mask_token$', 'neck.mask_token'),
    (r'^decoder_pos_embed\.', 'neck.pos_embed.'),
    *block_rules(r'ACT_decoder\.blocks\.(\d+)\.', r'neck.transformer.blocks.\1.'),
    (r'^ACT_decoder\.norm\.', 'neck.norm.'),
    (r'^proj_head\.0\.', 'head.proj.'),  # proj: conv
    (r'^proj_head\.', 'head.proj.'),  # proj: linear
    (r'^cls_pos$', None),  # cls_loss only
    (r'^dvae_tokenizer\.', None),  # the frozen teacher: --stage1-out
]
FINETUNE_RULES: List[Rule] = [
    *patch_encoder_rules('', 'backbone.'),
    (r'^cls_token$', 'backbone.cls_token'),
    (r'^cls_pos$', 'backbone.cls_pos'),
    *block_rules(r'blocks\.blocks\.(\d+)\.', r'backbone.transformer.blocks.\1.'),
    (r'^norm\.', 'backbone.norm.'),
    (r'^(side|side_projection)\.', None),  # side-tuning
    (r'^side_alpha$', None),
]
REQUIRED = dict(
    stage1=[r'^encoder\.first_conv\.', r'^dgcnn_1\.', r'^codebook$', r'^dgcnn_2\.',
            r'^decoder\.', r'^proj_pre\.', r'^visual_embed\.'],
    pretrain=[r'^ACT_encoder\.encoder\.', r'^ACT_encoder\.blocks\.', r'^ACT_decoder\.',
              r'^mask_token$', r'^proj_head\.'],
    finetune=[r'^encoder\.first_conv\.', r'^blocks\.blocks\.', r'^cls_token$', r'^norm\.'],
)
FORBIDDEN = dict(
    stage1=[r'^ACT_encoder\.', r'^dvae_tokenizer\.', r'^blocks\.'],
    pretrain=[r'^visual_embed\.', r'^blocks\.blocks\.'],
    finetune=[r'^ACT_encoder\.', r'^visual_embed\.', r'^dgcnn_1\.'],
)
EXPECTED = dict(
    stage1='ACT stage-1 (ACTPromptedDiscreteVAEwithVIT, cfgs/autoencoder)',
    pretrain='ACT stage-2 pre-training (ACT_PointDistillation, cfgs/pretrain)',
    finetune='ACT fine-tuned (PointTransformer, cfgs/finetune_classification)',
)


def _check_reduce_dim(state: Dict[str, Tensor], prefix: str, path: str) -> None:
    if any(k.startswith(prefix + 'reduce_dim.') for k in state):
        raise ValueError(f'{path}: {prefix}reduce_dim is a Linear (encoder_dims != embed_dim); '
                         f'PointPatchTransformer has no such layer (its patch embedding ends '
                         f'at embed_dims), so this file cannot be converted')


def _convert_stage1(state: Dict[str, Tensor], path: str, printer: Callable[[str], None]):
    """Stage-1 state (reference keys) -> (ACTAutoencoder state, timm ViT state, dropped,
    unknown)."""
    if any(k.startswith('visual_embed.2.') for k in state):
        raise ValueError(f'{path}: its 2D model is a CLIP visual tower (visual_embed = ln_pre, '
                         f'resblocks, ln_post); only timm ViT teachers (visual_embed = blocks, '
                         f'norm) are converted')
    vit_part = {k: v for k, v in state.items() if k.startswith('visual_embed.')}
    rest = {k: v for k, v in state.items() if not k.startswith('visual_embed.')}
    vit, vit_dropped, vit_unknown = convert_keys(vit_part, VIT_RULES)
    model, dropped, unknown = convert_keys(rest, STAGE1_RULES)
    model = fix_patch_embed(fix_conv_weights(model), '')
    width = model['input_proj.weight'].shape[0]
    depth = len({k.split('.')[1] for k in vit if k.startswith('blocks.')})
    mlp = vit.get('blocks.0.mlp.fc1.weight')
    printer(f'stage 1: embed_dims={model["codebook"].shape[1]}, '
            f'num_tokens={model["codebook"].shape[0]}, '
            f'num_prompts={model["prompt_tokens"].shape[1]}, '
            f'deep_prompts={"deep_prompt_tokens" in model}, '
            f'group_size={model["decoder.coarse_mlp.4.weight"].shape[0] // 3 * 4}; 2D blocks: '
            f'embed_dims={width}, num_layers={depth}, '
            f'feedforward_channels={None if mlp is None else mlp.shape[0]} (num_heads is not '
            f'stored in the weights: 12 for ViT-B)')
    return model, vit, vit_dropped + dropped, vit_unknown + unknown


def convert_act(src: str, dst: str, layout: str, vit_out: Optional[str] = None,
                stage1_out: Optional[str] = None,
                printer: Callable[[str], None] = print) -> Dict[str, Tensor]:
    """Convert the reference ACT checkpoint ``src`` of ``layout`` ('stage1', 'pretrain',
    'finetune') into ``dst``; returns the converted state dict.

    Args:
        vit_out: stage 1 (and stage 2 with ``stage1_out``): where the frozen 2D blocks go, as a
            timm state dict (default: ``dst`` / ``stage1_out`` with ``_vit_blocks`` added).
        stage1_out: stage 2 only: also write its frozen stage-1 teacher (``dvae_tokenizer``).
    """
    if layout not in LAYOUTS:
        raise ValueError(f'layout must be one of {LAYOUTS}, got {layout!r}')
    state = load_reference_state(src)
    require_layout(state, REQUIRED[layout], EXPECTED[layout], src, FORBIDDEN[layout])
    meta = dict(source=osp.abspath(src), layout=f'RunpeiDong/ACT {layout}',
                converter='tools/model_converters/act_to_pt3kd.py')
    extra_dropped: List[str] = []
    if layout == 'stage1':
        out, vit, dropped, unknown = _convert_stage1(state, src, printer)
        _save_vit(vit, vit_out or _suffixed(dst, '_vit_blocks'), printer, out)
    else:
        prefix = 'ACT_encoder.' if layout == 'pretrain' else ''
        _check_reduce_dim(state, prefix, src)
        rules = (PRETRAIN_RULES if layout == 'pretrain' else
                 FINETUNE_RULES + finetune_head_rules(state))
        out, dropped, unknown = convert_keys(state, rules)
        out = fix_patch_embed(fix_conv_weights(out), 'backbone.')
        if layout == 'pretrain' and stage1_out:
            teacher = {k[len('dvae_tokenizer.'):]: v for k, v in state.items()
                       if k.startswith('dvae_tokenizer.')}
            t_out, t_vit, t_dropped, t_unknown = _convert_stage1(teacher, src, printer)
            _save_vit(t_vit, vit_out or _suffixed(stage1_out, '_vit_blocks'), printer, t_out)
            save_converted(t_out, stage1_out, dict(meta, part='dvae_tokenizer'))
            printer(f'wrote {len(t_out)} tensors of the stage-1 teacher to {stage1_out}')
            dropped = [k for k in dropped if not k.startswith('dvae_tokenizer.')]
            extra_dropped = [f'dvae_tokenizer.{k}' for k in t_dropped + t_unknown]
    report_keys(dropped + extra_dropped, unknown, printer)
    save_converted(out, dst, meta)
    printer(f'wrote {len(out)} tensors to {dst}')
    return out


def _suffixed(path: str, suffix: str) -> str:
    root, ext = osp.splitext(path)
    return f'{root}{suffix}{ext or ".pth"}'


def _save_vit(vit: Dict[str, Tensor], path: str, printer: Callable[[str], None],
              stage1: dict) -> None:
    """Write the 2D blocks and record their file's fingerprint in the stage-1 state dict
    ``stage1`` (its ``weights_2d_record``, as ``ACTAutoencoder`` saves it)."""
    folder = osp.dirname(osp.abspath(path))
    if not osp.isdir(folder):
        raise FileNotFoundError(f'output folder {folder} does not exist')
    torch.save(vit, path)  # a plain timm state dict, as FrozenViTBlocks(source='timm') reads
    depth = len({k.split('.')[1] for k in vit if k.startswith('blocks.')})
    width = stage1['input_proj.weight'].shape[0]
    mlp = vit.get('blocks.0.mlp.fc1.weight')
    arch = dict(embed_dims=width, num_layers=depth,
                feedforward_channels=None if mlp is None else mlp.shape[0])
    stage1['weights_2d_record'] = vit_record_tensor(
        vit_weights_fingerprint(path, 'timm', arch, width, depth))
    printer(f'wrote {len(vit)} tensors of the frozen 2D blocks (timm layout) to {path}; the '
            f'stage-1 model records its sha256 (use this file as vit_blocks.checkpoint)')


def main() -> None:
    parser = argparse.ArgumentParser(description='Convert a RunpeiDong/ACT checkpoint')
    parser.add_argument('src', help='reference checkpoint (base_model / model inside)')
    parser.add_argument('dst', help='output file')
    parser.add_argument('--layout', required=True, choices=LAYOUTS,
                        help='stage1: the dVAE with its 2D ViT; pretrain: ACT stage 2; '
                        'finetune: a fine-tuned PointTransformer')
    parser.add_argument('--vit-out', help='where the frozen 2D blocks go (timm state dict)')
    parser.add_argument('--stage1-out', help='pretrain: also convert the stage-1 teacher')
    args = parser.parse_args()
    try:
        convert_act(args.src, args.dst, args.layout, args.vit_out, args.stage1_out)
    except (ValueError, FileNotFoundError) as err:
        parser.exit(1, f'error: {err}\n')


if __name__ == '__main__':
    main()
