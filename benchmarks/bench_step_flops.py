"""Matrix-product FLOPs of one training step (forward + backward; teachers forward only) of the
reference re-implementations and of pt3kd_mm, per part: what the step-time ratios can be at
best when every variant runs its matrix products at the same speed. Hardware independent;
complements the timed step benchmarks on a busy or unusual machine.

Counted with ``torch.utils.flop_counter.FlopCounterMode`` (mm / addmm / bmm / convolutions /
attention; element-wise work is not counted) on a batch of ``--batch`` clouds and scaled to
B=32 (the counts are linear in the batch). Usage:
    python benchmarks/bench_step_flops.py [--batch 2]
"""
import argparse
import os.path as osp
import tempfile

import torch
from torch.utils.flop_counter import FlopCounterMode

from bench_common import (act_stage1_files, act_teacher_cfg, demo_batch, write_random_clip,
                          write_random_vit)

B_REPORT = 32


def count(fn) -> float:
    with FlopCounterMode(display=False) as mode:
        fn()
    return float(mode.get_total_flops())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--batch', type=int, default=2)
    args = parser.parse_args()
    import pt3kd_mm  # noqa: F401
    from mmdet3d.registry import MODELS
    from mmdet3d.structures import Det3DDataSample
    from mmengine.config import Config
    from mmengine.logging import MMLogger
    from mmengine.registry import init_default_scope
    from bench_common import REPO
    from bench_recon_step import RefImageTeacher, RefTextTeacher
    from pt3kd_mm.models.utils import random_group_mask
    from pt3kd_mm.ops import group_points
    from reference_models import RefACTStage2, RefACTTeacher, RefPointMAE, RefReCon
    init_default_scope('mmdet3d')
    MMLogger.get_current_instance().setLevel('WARNING')
    torch.manual_seed(0)
    scale = B_REPORT / args.batch
    data = demo_batch(args.batch)
    pts = data['points']
    rows = []

    def backward(loss):
        loss.backward()

    with tempfile.TemporaryDirectory() as tmp:
        # Point-MAE
        neigh, centers, _, _ = group_points(pts, 64, 32)
        mask = random_group_mask(args.batch, 64, 0.6)
        ref = RefPointMAE().train()
        ours = MODELS.build(Config.fromfile(f'{REPO}/configs/point_mae_pretrain.py').model)
        ours.train()
        r = count(lambda: backward(ref(neigh, centers, mask)))
        o = count(lambda: backward(ours(dict(points=pts), mode='loss')['loss']))
        rows.append(('Point-MAE', r, 0.0, o, 0.0))
        # ACT stage 2
        files = act_stage1_files(tmp)
        ref, ref_teacher = RefACTStage2().train(), RefACTTeacher().train()
        ref_teacher.requires_grad_(False)
        mask = random_group_mask(args.batch, 64, 0.8)
        r = count(lambda: backward(ref(neigh, centers, mask, ref_teacher)))
        with torch.no_grad():
            rt = count(lambda: ref_teacher(neigh, centers))
        cfg = Config.fromfile(f'{REPO}/configs/act_pretrain.py').model
        cfg.teacher = act_teacher_cfg(files)
        ours = MODELS.build(cfg).train()
        o = count(lambda: backward(ours(dict(points=pts), mode='loss')['loss']))
        ot = count(lambda: ours.teachers['stage1'](neigh, centers, hard=True))
        rows.append(('ACT stage 2', r, rt, o, ot))
        # ReCon, online teachers
        vit = write_random_vit(osp.join(tmp, 'vit.pth'), 'vit_base_patch16_224')
        clip = write_random_clip(osp.join(tmp, 'clip.pth'))
        teachers = [RefImageTeacher(vit), RefTextTeacher(clip)]
        ref = RefReCon(*teachers).train()
        mask = random_group_mask(args.batch, 64, 0.6)
        r = count(lambda: backward(ref(neigh, centers, mask, data['images'], data['texts'])))
        with torch.no_grad():
            rt = count(lambda: teachers[0](data['images'])) + \
                count(lambda: teachers[1](data['texts']))
        cfg = Config.fromfile(f'{REPO}/configs/recon_pretrain.py').model
        cfg.img_teacher.checkpoint, cfg.text_teacher.checkpoint = vit, clip
        ours = MODELS.build(cfg).train()
        samples = [Det3DDataSample(metainfo=dict(text=t)) for t in data['texts']]
        ours(dict(points=pts, img=data['images']), samples, mode='loss')  # builds the teachers
        o = count(lambda: backward(sum(ours(dict(points=pts, img=data['images']), samples,
                                            mode='loss').values())))
        ot = count(lambda: ours.teachers['img'](data['images'])) + \
            count(lambda: ours.teachers['text'](data['texts']))
        rows.append(('ReCon (online teachers)', r, rt, o, ot))

    print(f'Matrix-product GFLOPs of one training step at B={B_REPORT} (counted at '
          f'B={args.batch}, scaled): student forward + backward, teachers forward')
    head = (f'| {"model":<24} | {"ref student":>11} | {"ref teachers":>12} | '
            f'{"ours student":>12} | {"ours teachers":>13} | {"ours / ref":>10} | '
            f'{"teacher share":>13} |')
    print(head)
    print('|' + '|'.join('-' * len(c) for c in head.split('|')[1:-1]) + '|')
    for name, r, rt, o, ot in rows:
        share = f'{100 * ot / o:.0f}%' if ot else '-'
        print(f'| {name:<24} | {(r - rt) * scale / 1e9:11.0f} | {rt * scale / 1e9:12.0f} | '
              f'{(o - ot) * scale / 1e9:12.0f} | {ot * scale / 1e9:13.0f} | {o / r:10.2f} | '
              f'{share:>13} |')
    print('"ours / ref" is the step-time ratio if both ran their matrix products at the same '
          'speed; "teacher share" the teachers\' part of ours by FLOPs. A teacher share of '
          '<= 40% needs the teacher to run (share / (1 - share)) / (0.4 / 0.6) times faster per '
          'FLOP than the student.')


if __name__ == '__main__':
    main()
