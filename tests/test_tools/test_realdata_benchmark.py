"""benchmarks/realdata: its statistics against their definitions, the configs it generates and
the table it writes (the training itself is the repository's tools/train.py, tested elsewhere)."""
import itertools
import json
import os.path as osp
import sys

import numpy as np
import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(ROOT, 'benchmarks', 'realdata'))

import analysis  # noqa: E402
import run  # noqa: E402


def _cloud(kind: str, n: int = 2048, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == 'sphere':
        p = rng.normal(size=(n, 3))
        return p / np.linalg.norm(p, axis=1, keepdims=True)
    return rng.uniform(-1, 1, size=(n, 3)) * np.array([2.0, 0.2, 0.5])  # a flat slab


def test_geometric_descriptor_is_scale_free_and_tells_shapes_apart():
    cloud = _cloud('slab')
    d = analysis.geometric_descriptor(cloud, seed=3)
    assert d.shape == (39, )
    np.testing.assert_allclose(analysis.geometric_descriptor(cloud * 7.3, seed=3), d, atol=1e-6)
    # PCA eigenvalue ratios and extents sum to one; histograms are frequencies
    assert d[:3].sum() == pytest.approx(1, abs=1e-5)
    assert d[3:6].sum() == pytest.approx(1, abs=1e-5)
    np.testing.assert_allclose(d[3:6], [2 / 2.7, 0.2 / 2.7, 0.5 / 2.7], atol=0.01)
    sphere = analysis.geometric_descriptor(_cloud('sphere'), seed=3)
    np.testing.assert_allclose(sphere[:3], [1 / 3] * 3, atol=0.03)
    assert np.abs(sphere - d).max() > 0.1
    with pytest.raises(ValueError, match=r'\(N >= 3, 3\)'):
        analysis.geometric_descriptor(np.zeros((5, 2)))


def test_kfold_predictions_never_train_on_the_predicted_fold():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 20)
    feats = rng.normal(size=(60, 4)) * 0.1 + np.eye(4)[labels] * 5.0  # well separated
    folds = np.tile(np.arange(5), 12)
    pred = analysis.kfold_svm_predictions(feats, labels, folds)
    assert (pred == labels).mean() == 1.0
    # scrambling fold 0's labels changes no prediction for fold 0 (it is never fit on them)
    scrambled = labels.copy()
    scrambled[folds == 0] = rng.permutation(scrambled[folds == 0])[::-1]
    pred2 = analysis.kfold_svm_predictions(feats, scrambled, folds)
    np.testing.assert_array_equal(pred2[folds == 0], pred[folds == 0])
    with pytest.raises(ValueError, match='features'):
        analysis.kfold_svm_predictions(feats, labels[:-1], folds)


def test_paired_permutation_test_matches_the_exact_sign_flip_distribution():
    a = np.array([1, 1, 1, 0.5, 1, 0, 1, 1.0])
    b = np.array([0, 1, 0, 0.5, 0, 0, 1, 0.0])
    d = a - b
    exact = np.mean([abs((np.array(s) * d).mean()) >= abs(d.mean()) - 1e-12
                     for s in itertools.product((-1, 1), repeat=len(d))])  # 2 / 16... etc.
    p = analysis.paired_permutation_test(a, b, num_permutations=40000, seed=1)
    assert p == pytest.approx(exact, abs=0.01)
    assert analysis.paired_permutation_test(a, a) == 1.0
    strong = analysis.paired_permutation_test(np.ones(60), np.zeros(60), num_permutations=999)
    assert strong == pytest.approx(1 / 1000)
    # symmetric in its arguments
    assert analysis.paired_permutation_test(b, a, seed=1) == analysis.paired_permutation_test(
        a, b, seed=1)


def test_holm_and_summarise_by_hand():
    assert analysis.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert analysis.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    mean, std = analysis.summarise([60.0, 62.0, 64.0])
    assert (mean, std) == (pytest.approx(62.0), pytest.approx(2.0))
    assert analysis.summarise([5.0]) == (5.0, 0.0)


def test_generated_configs_share_one_budget(tmp_path):
    split = tmp_path / 'ShapeNet-55'
    split.mkdir()
    (split / 'pretrain.txt').write_text(''.join(f'90000001-m{i}.npy\n' for i in range(100)))
    (split / 'labelled.txt').write_text(''.join(f'9000000{i % 3}-m{i}.npy\n' for i in range(9)))
    s = dict(run.SETTINGS, seeds=[0], data_root=str(tmp_path))
    size = dict(embed_dims=s['embed_dims'], depth=s['depth'], num_groups=s['num_groups'],
                group_size=s['group_size'])
    for method in ('point_mae', 'act', 'recon'):
        cfg = run.pretrain_config(method, 4, s, '/tmp/w', 'stage1.pth')
        assert {k: cfg.model.backbone[k] for k in size} == size, method
        assert cfg.model.neck.depth == s['decoder_depth']
        assert cfg.train_cfg.max_epochs == s['pretrain_epochs']
        assert cfg.train_dataloader.batch_size == s['batch_size']
        assert cfg.optim_wrapper.optimizer.lr == s['pretrain_lr']
        assert cfg.train_dataloader.dataset.ann_file == 'ShapeNet-55/pretrain.txt'
        assert cfg.randomness.seed == 4
        assert cfg.val_dataloader is None and cfg.test_dataloader is None
    act = run.pretrain_config('act', 0, s, '/tmp/w', 'stage1.pth')
    assert act.model.teacher.checkpoint == 'stage1.pth'
    assert act.model.teacher.model.vit_blocks.arch == 'dinov2-small'
    assert act.model.teacher.model.num_groups == s['num_groups']
    stage1 = run.pretrain_config('act_stage1', 0, s, '/tmp/w')
    assert stage1.train_cfg.max_epochs == s['act_stage1_epochs']
    assert not any(p['type'] == 'RandomScaleTranslate'
                   for p in stage1.train_dataloader.dataset.pipeline)
    # the Gumbel / KL schedules span this run's iterations (100 clouds // batch 32 per epoch)
    iters = s['act_stage1_epochs'] * (100 // s['batch_size'])
    tau, kl = stage1.custom_hooks
    assert (tau.attr, tau.num_iters) == ('gumbel_tau', iters)
    assert (kl.attr, kl.begin_iter, kl.num_iters) == ('kl_weight', iters // 10,
                                                        iters - iters // 10)
    recon = run.pretrain_config('recon', 0, s, '/tmp/w')
    assert recon.model.img_teacher.type == 'DINOv2ImageTeacher'
    assert recon.model.text_teacher.type == 'SentenceTextTeacher'
    assert recon.train_dataloader.dataset.texts_file == 'sweethome3d_texts.json'
    for method in run.METHODS:
        ckpt = None if method == 'scratch' else 'pre.pth'
        ft = run.finetune_config(method, 1, s, '/tmp/w', ckpt)
        assert ft.train_cfg.max_epochs == s['finetune_epochs']
        assert ft.model.head.num_classes == 3  # the synsets of labelled.txt
        assert ft.optim_wrapper.optimizer.lr == s['finetune_lr']
        assert ft.optim_wrapper.paramwise_cfg.custom_keys == {'token': dict(decay_mult=0.0)}
        assert ft.train_dataloader.dataset.ann_file == 'ShapeNet-55/train.txt'
        assert ft.test_dataloader.dataset.ann_file == 'ShapeNet-55/test.txt'
        assert ft.model.backbone.init_cfg == (
            None if ckpt is None else dict(type='Pretrained', checkpoint=ckpt,
                                           prefix='backbone.'))


def test_steps_and_their_dependencies(tmp_path):
    s = dict(run.SETTINGS, seeds=[0, 1])
    steps = {st.name: st for st in run.build_steps(s, str(tmp_path))}
    assert len(steps) == 4 + 2 * (3 + 4 * 3)
    assert [d.name for d in steps['pretrain/act/seed1'].deps] == ['act_stage1']
    assert sorted(d.name for d in steps['pretrain/recon/seed0'].deps) == ['cache_img',
                                                                           'cache_text']
    assert steps['svm/scratch/seed0'].deps == []
    assert [d.name for d in steps['predict/point_mae/seed1'].deps] == [
        'finetune/point_mae/seed1']
    assert [d.name for d in steps['finetune/recon/seed0'].deps] == ['pretrain/recon/seed0']


def test_report_pools_seeds_and_marks_significance(tmp_path):
    s = dict(run.SETTINGS, seeds=[0, 1, 2])
    labels = [0, 1] * 30

    def write(name, correct):
        path = tmp_path / name
        path.mkdir(parents=True)
        pred = [lab if c else 1 - lab for lab, c in zip(labels, correct)]
        acc = 100 * float(np.mean(correct))
        (path / 'result.json').write_text(json.dumps(dict(
            names=[str(i) for i in range(60)], labels=labels, pred=pred, accuracy=acc)))
        (path / 'done.json').write_text(json.dumps(dict(minutes=1.5)))

    for seed in range(3):
        write(f'svm/scratch/seed{seed}', [i % 2 == 0 for i in range(60)])
        write(f'svm/point_mae/seed{seed}', [True] * 60)
        write(f'svm/recon/seed{seed}', [i % 4 != 0 for i in range(60)])
        (tmp_path / f'pretrain/point_mae/seed{seed}').mkdir(parents=True)
        (tmp_path / f'pretrain/point_mae/seed{seed}/done.json').write_text(
            json.dumps(dict(minutes=4.5)))
    write('geometric', [i % 3 != 0 for i in range(60)])
    table = run.report(s, str(tmp_path))
    mae = next(ln for ln in table.splitlines() if '| svm | point_mae |' in ln)
    assert '100.0 +- 0.0' in mae and '100.0, 100.0, 100.0' in mae
    cells = [c.strip() for c in mae.split('|')]
    assert cells[5].endswith('*') and float(cells[5][:-1].strip()) < 0.001
    scratch = next(ln for ln in table.splitlines() if '| svm | scratch |' in ln)
    assert '50.0 +- 0.0' in scratch
    assert '| svm | geometric descriptor | 66.7 |' in table
    assert 'finetune' not in table.split('Step time')[0].replace('| protocol', '')
    assert cells[7] == '4.5 + 1.5'  # minutes per seed: pre-training + the SVM step
    assert scratch.split('|')[7].strip() == '0.0 + 1.5'
    assert 'Step time, summed over the steps: 28 min' in table  # 3 x (4.5 + 3 x 1.5) + 1.5 = 28.5
    # Between the pre-trainings: point_mae is right on the 15 items recon misses, and the
    # only pair is its own Holm family: the exact two-sided sign-flip p is 2 / 2**15, so the
    # sampled p (20000 flips) sits at its floor, far below 0.001.
    pair = next(ln for ln in table.splitlines() if '| svm | point_mae - recon |' in ln)
    cells = [c.strip() for c in pair.split('|')]
    assert cells[3] == '+25.0'
    assert cells[4].endswith('*') and float(cells[4][:-1]) < 0.001
    assert '| finetune |' not in table.split('Between the pre-trainings')[1]


def test_finetune_probe_variants(tmp_path):
    """The probe trains run.py's fine-tune model; 'frozen_eval' trains the head only and
    'drop_path=R' sets every block's stochastic depth."""
    import torch
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet3d')
    import finetune_probe
    import pt3kd_mm  # noqa: F401
    rng = np.random.default_rng(0)
    (tmp_path / 'shapenet_pc').mkdir()
    (tmp_path / 'ShapeNet-55').mkdir()
    names = [f'9000000{1 + i % 2}-m{i}.npy' for i in range(32)]
    for name in names:
        np.save(tmp_path / 'shapenet_pc' / name, rng.normal(size=(600, 3)).astype(np.float32))
    for split in ('train.txt', 'labelled.txt'):
        (tmp_path / 'ShapeNet-55' / split).write_text(''.join(n + '\n' for n in names))
    (tmp_path / 'shapenet55.json').write_text(json.dumps(
        [dict(catalogue=90000001, describe='a'), dict(catalogue=90000002, describe='b')]))
    s = dict(run.SETTINGS, data_root=str(tmp_path) + '/', depth=2, embed_dims=48, num_heads=2)
    first, last, classes, model = finetune_probe.probe('point_mae', None, 'drop_path=0.0', 2, 0,
                                                       settings=s)
    assert classes == 2 and np.isfinite([first, last]).all()
    assert all(getattr(m, 'drop_prob', 0) == 0 for m in model.modules())
    recipe = finetune_probe.probe('point_mae', None, 'recipe', 1, 0, settings=s)[3]
    assert max(getattr(m, 'drop_prob', 0) for m in recipe.modules()) > 0  # the control
    frozen = finetune_probe.probe('point_mae', None, 'frozen_eval', 2, 0, settings=s)[3]
    from mmdet3d.registry import MODELS
    torch.manual_seed(0)  # as the probe builds it
    fresh = MODELS.build(run.finetune_config('point_mae', 0, s, '/tmp', None).model)
    fresh.init_weights()
    for (name, p), p0 in zip(frozen.named_parameters(), fresh.parameters()):
        assert torch.equal(p, p0) == name.startswith('backbone.'), name
    assert not frozen.backbone.training
    with pytest.raises(ValueError, match='unknown variant'):
        finetune_probe.probe('point_mae', None, 'dropout', 2, 0, settings=s)
