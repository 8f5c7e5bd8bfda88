"""ConceptDistill: shared concept decoder, prefix / patch alignment, targets, reconstruction."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmdet.models.layers.transformer import DetrTransformerDecoderLayer
from torch import nn

from mmdet3d.registry import MODELS
from mmdet3d.structures import Det3DDataSample
from pt3kd_mm.models.heads import uv_to_grid_cell
from pt3kd_mm.models.selfsup import per_sample_errors
from pt3kd_mm.models.teachers.base_teacher import FrozenTeacher
from pt3kd_mm.testing.tools import load_tool

C, G, K, N = 32, 16, 8, 128
TINY_BACKBONE = dict(type='PointPatchTransformer', embed_dims=C, depth=2, num_heads=2,
                     num_groups=G, group_size=K, drop_path_rate=0.0)
PREFIX = (3, 6)  # a tiny stand-in for ClipCap's (10, 768) prefix
GRID = (3, 5)  # gh != gw: an axis swap pairs patches with the wrong cells
PATCH_DIMS = 6


@MODELS.register_module(name='_ConceptTestTeacher', force=True)
class StandInTeacher(FrozenTeacher):
    """A frozen image teacher: average-pooled image -> Linear. With ``grid_size`` it returns
    (B, gh * gw, D) row-major patch features (as CLIPImageTeacher(output='patch_tokens')),
    else (B, *out_shape)."""

    def __init__(self, checkpoint, out_shape=PREFIX, grid_size=None):
        self.out_shape = tuple(out_shape)
        self.grid = grid_size
        super().__init__(checkpoint)
        if grid_size is not None:
            self.grid_size = tuple(grid_size)

    def build_network(self):
        return nn.Linear(3, self.out_shape[-1]) if self.grid else \
            nn.Linear(12, math.prod(self.out_shape))

    def forward_teacher(self, images):
        if self.grid:
            cells = F.adaptive_avg_pool2d(images / 255, self.grid).flatten(2).transpose(1, 2)
            return self.network(cells)
        pooled = F.adaptive_avg_pool2d(images / 255, 2).flatten(1)
        return self.network(pooled).reshape(-1, *self.out_shape)


def teacher_cfg(tmp_path, grid_size=None, out_shape=PREFIX):
    torch.manual_seed(123)
    net = nn.Linear(3, out_shape[-1]) if grid_size else nn.Linear(12, math.prod(out_shape))
    path = str(tmp_path / 'teacher.pth')
    torch.save(net.state_dict(), path)
    return dict(type='_ConceptTestTeacher', checkpoint=path, out_shape=out_shape,
                grid_size=grid_size)


def build(depth=2, **kw):
    cfg = dict(type='ConceptDistill',
               backbone=dict(TINY_BACKBONE, depth=depth),
               neck=dict(type='ConceptQueryDecoder', num_heads=2, num_queries=4),
               head=dict(type='PrefixAlignHead', target_shape=PREFIX, hidden_dims=16))
    cfg.update(kw)
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def cached_samples(batch, shape=PREFIX, flat=(0, 2), seed=0):
    """Samples with cached targets, rows flat for the samples in ``flat``, shaped otherwise."""
    rng = np.random.RandomState(seed)
    samples, rows = [], []
    for i in range(batch):
        row = rng.randn(*shape).astype(np.float32)
        rows.append(torch.from_numpy(row))
        s = Det3DDataSample()
        s.set_metainfo(dict(img_target=row.reshape(-1) if i in flat else row,
                            img_target_cache='given'))
        samples.append(s)
    return samples, torch.stack(rows)


def capture_loss_inputs(module):
    """Record (args, kwargs) of every call of ``module`` (a head's loss module)."""
    calls = []
    module.register_forward_hook(lambda m, a, kw, out: calls.append((a, kw)), with_kwargs=True)
    return calls


def record_decoder_calls(model):
    """Per call of the shared decoder layer: (query in, memory, key_pos, query out); and the
    backbone blocks' raw outputs."""
    calls, blocks = [], []
    model.neck.layer.register_forward_hook(
        lambda m, a, kw, out: calls.append((a[0], kw['key'], kw['value'], kw['key_pos'], out)),
        with_kwargs=True)
    for block in model.backbone.transformer.blocks:
        block.register_forward_hook(lambda m, a, out: blocks.append(out))
    return calls, blocks


def hand_prefix_head(head, tokens):
    """PrefixAlignHead by hand: flatten -> Linear -> GELU -> Linear -> reshape."""
    fc1, fc2 = head.mlp[0], head.mlp[2]
    hidden = F.gelu(tokens.flatten(1) @ fc1.weight.T + fc1.bias)
    return (hidden @ fc2.weight.T + fc2.bias).reshape(tokens.shape[0], *head.target_shape)


# ---------------------------------------------------------------------- concept decoder
def test_decoder_is_one_shared_layer_independent_of_depth():
    counts = {}
    for depth in (2, 4):
        model = build(depth=depth)
        counts[depth] = sum(p.numel() for p in model.neck.parameters())
        assert [n for n, _ in model.neck.named_children()] == ['layer']
        assert isinstance(model.neck.layer, DetrTransformerDecoderLayer)
    attn = dict(embed_dims=C, num_heads=2, batch_first=True)
    one_layer = DetrTransformerDecoderLayer(
        self_attn_cfg=dict(attn), cross_attn_cfg=dict(attn),
        ffn_cfg=dict(embed_dims=C, feedforward_channels=4 * C, num_fcs=2))
    expected = sum(p.numel() for p in one_layer.parameters()) + 4 * C  # + 4 queries
    assert counts[2] == counts[4] == expected


@pytest.mark.parametrize('depth', [2, 4])
def test_decoder_reads_each_layer_in_turn(depth):
    """The layer runs once per encoder layer; call l reads layer l's final-normed tokens (as
    the backbone returns them for out_indices = every layer) with the centre position
    embedding on the keys, and refines the queries of call l - 1."""
    model = build(depth=depth).eval()
    assert model.backbone.out_indices == tuple(range(depth))
    calls, blocks = record_decoder_calls(model)
    points = torch.rand(2, N, 3)
    samples, _ = cached_samples(2)
    with pytest.warns(UserWarning, match='cannot be checked'):
        model(dict(points=points), samples, mode='loss')
    assert len(calls) == depth and len(blocks) == depth
    with torch.no_grad():
        ref = model.backbone(points)
    assert len(ref['multi_level_tokens']) == depth
    torch.testing.assert_close(ref['multi_level_tokens'][-1], ref['tokens'])
    pos = model.backbone.pos_embed(ref['centers'])
    for layer, (query, key, value, key_pos, out) in enumerate(calls):
        torch.testing.assert_close(key, ref['multi_level_tokens'][layer])
        torch.testing.assert_close(key, model.backbone.norm(blocks[layer]))
        assert value is key
        torch.testing.assert_close(key_pos, pos)
        expected_in = model.neck.queries.expand(2, -1, -1) if layer == 0 else calls[layer - 1][4]
        torch.testing.assert_close(query, expected_in)
    # the layers differ, so each call really read another memory
    assert not torch.allclose(calls[0][1], calls[-1][1])


def test_key_pos_off_passes_none():
    model = build(key_pos=False)
    calls, _ = record_decoder_calls(model)
    samples, _ = cached_samples(2)
    with pytest.warns(UserWarning):
        model(dict(points=torch.rand(2, N, 3)), samples, mode='loss')
    assert all(c[3] is None for c in calls)


# ---------------------------------------------------------------------- targets and loss
def test_loss_is_mse_of_head_on_concept_tokens_by_hand():
    model = build()
    points = torch.rand(3, N, 3)
    samples, rows = cached_samples(3)
    calls = capture_loss_inputs(model.head.loss_module)
    with pytest.warns(UserWarning, match='cannot be checked'):
        losses = model(dict(points=points), samples, mode='loss')
    assert set(losses) == {'loss_distill'}
    # the target handed to the loss: each sample's row (flat or shaped) reshaped, in order
    torch.testing.assert_close(calls[0][0][1], rows)
    # by hand from the parts
    out = model.backbone(points)
    pos = model.backbone.pos_embed(out['centers'])
    query = model.neck.queries.expand(3, -1, -1)
    for memory in out['multi_level_tokens']:
        query = model.neck.layer(query, key=memory, value=memory, key_pos=pos)
    pred = hand_prefix_head(model.head, query)
    assert pred.shape == (3, *PREFIX)
    torch.testing.assert_close(losses['loss_distill'], F.mse_loss(pred, rows))


def test_cached_target_of_wrong_size_names_both_shapes():
    model = build()
    samples, _ = cached_samples(2, shape=(4, 6))
    with pytest.warns(UserWarning, match='cannot be checked'), \
            pytest.raises(ValueError, match=r'shape \(24,\) \(24 values\) but the head '
                          r'predicts \(3, 6\) \(18\)'):
        model(dict(points=torch.rand(2, N, 3)), samples, mode='loss')
    samples[1].set_metainfo(dict(img_target=None))
    with pytest.raises(ValueError, match='only some samples'):
        model(dict(points=torch.rand(2, N, 3)), samples, mode='loss')
    with pytest.raises(ValueError, match='no img_teacher is configured'):
        model(dict(points=torch.rand(2, N, 3)), [Det3DDataSample()] * 2, mode='loss')


def test_cache_from_another_teacher_is_refused(tmp_path):
    from pt3kd_mm.utils.teacher_cache import teacher_fingerprint, write_cache
    cfg = teacher_cfg(tmp_path)
    other = dict(cfg, out_shape=(2, 9))
    cache = write_cache(str(tmp_path / 'cache'), ['a.jpg'], np.ones((1, 18), np.float32),
                        teacher_fingerprint(other))
    model = build(img_teacher=cfg)
    samples, _ = cached_samples(2)
    for s in samples:
        s.set_metainfo(dict(img_target_cache=cache))
    with pytest.raises(ValueError, match='out_shape'):
        model(dict(points=torch.rand(2, N, 3)), samples, mode='loss')
    assert model.teachers.built == set()


def test_teacher_output_is_the_target_in_order(tmp_path):
    model = build(img_teacher=teacher_cfg(tmp_path))
    assert model.teachers.built == set()
    images = torch.rand(3, 3, 224, 224) * 255
    calls = capture_loss_inputs(model.head.loss_module)
    model(dict(points=torch.rand(3, N, 3), img=images), [Det3DDataSample()] * 3, mode='loss')
    teacher = model.teachers['img']
    expected = torch.stack([teacher(images[i:i + 1])[0] for i in range(3)])
    torch.testing.assert_close(calls[0][0][1], expected)
    assert len({tuple(t.flatten().tolist()) for t in expected}) == 3
    # frozen and outside the student
    assert not any(k.startswith('teachers') for k in model.state_dict())
    assert all(not p.requires_grad for p in teacher.network.parameters())
    with pytest.raises(KeyError, match=r"no inputs\['img'\]"):
        model(dict(points=torch.rand(3, N, 3)), [Det3DDataSample()] * 3, mode='loss')


def test_teacher_shape_mismatch_is_an_error(tmp_path):
    model = build(img_teacher=teacher_cfg(tmp_path, out_shape=(2, 9)))
    with pytest.raises(ValueError, match=r'teacher outputs \(2, 9\) per sample but the head '
                       r'predicts \(3, 6\)'):
        model(dict(points=torch.rand(2, N, 3), img=torch.rand(2, 3, 224, 224)),
              [Det3DDataSample()] * 2, mode='loss')


def test_clip_embedding_target_shape():
    """The no-caption-model ablation: the same head regresses a (512,)-like embedding."""
    model = build(head=dict(type='PrefixAlignHead', target_shape=(10, ), hidden_dims=16))
    samples, rows = cached_samples(2, shape=(10, ), flat=())
    calls = capture_loss_inputs(model.head.loss_module)
    with pytest.warns(UserWarning):
        loss = model(dict(points=torch.rand(2, N, 3)), samples, mode='loss')['loss_distill']
    pred, target = calls[0][0][:2]
    assert pred.shape == target.shape == (2, 10)
    torch.testing.assert_close(target, rows)
    torch.testing.assert_close(loss, F.mse_loss(pred, rows))


# ---------------------------------------------------------------------- no concept extraction
def test_no_concept_variant_pools_backbone_tokens():
    model = build(neck=None)
    assert model.neck is None
    assert not any('queries' in n for n, _ in model.named_parameters())
    assert model.head.num_tokens == 2 and model.head.mlp[0].in_features == 2 * C
    points = torch.rand(2, N, 3)
    samples, rows = cached_samples(2)
    with pytest.warns(UserWarning):
        loss = model(dict(points=points), samples, mode='loss')['loss_distill']
    tokens = model.backbone(points)['tokens']
    pooled = torch.stack([tokens.max(1).values, tokens.mean(1)], dim=1)
    torch.testing.assert_close(loss, F.mse_loss(hand_prefix_head(model.head, pooled), rows))
    # pooled tokens do not depend on the FPS order of the tokens
    perm = tokens[:, torch.randperm(G)]
    torch.testing.assert_close(model.student_tokens(model.encode(points, False)),
                               torch.stack([perm.max(1).values, perm.mean(1)], dim=1))


# ---------------------------------------------------------------------- local alignment
def test_uv_to_grid_cell_by_hand():
    uv = torch.tensor([[0.99, 0.1], [0.1, 0.99], [1.0, 1.0], [-0.2, 0.5], [0.5, 0.34]])
    # (gh, gw) = (3, 5): row = floor(v * 3), col = floor(u * 5), clamped
    assert uv_to_grid_cell(uv, GRID).tolist() == [0 * 5 + 4, 2 * 5 + 0, 14, 1 * 5 + 0,
                                                  1 * 5 + 2]


def local_samples(batch, seed=0):
    """Hand-made image coordinates: u, v in [-0.2, 1.2); in the image iff both in [0, 1]."""
    rng = np.random.RandomState(seed)
    samples, uvs = [], []
    for _ in range(batch):
        uv = rng.uniform(-0.2, 1.2, size=(N, 2)).astype(np.float32)
        inside = ((uv >= 0) & (uv <= 1)).all(1)
        s = Det3DDataSample()
        s.set_metainfo(dict(points_uv=uv, points_in_image=inside))
        samples.append(s)
        uvs.append(uv)
    return samples, uvs


def test_local_alignment_pairs_patches_with_their_cells(tmp_path):
    model = build(neck=None, alignment='local',
                  head=dict(type='PatchAlignHead', target_dims=PATCH_DIMS, grid_size=GRID,
                            hidden_dims=16),
                  img_teacher=teacher_cfg(tmp_path, grid_size=GRID, out_shape=(PATCH_DIMS, )))
    points = torch.rand(2, N, 3)
    images = torch.rand(2, 3, 224, 224) * 255
    samples, uvs = local_samples(2)
    calls = capture_loss_inputs(model.head.loss_module)
    loss = model(dict(points=points, img=images), samples, mode='loss')['loss_distill']
    (pred, target), kwargs = calls[0]
    grid_feats = model.teachers['img'](images)  # (2, 15, D)
    assert grid_feats.shape == (2, 15, PATCH_DIMS)
    out = model.backbone(points)
    gh, gw = GRID
    expect_target = torch.zeros(2, G, PATCH_DIMS)
    valid = torch.zeros(2, G, dtype=torch.bool)
    for b in range(2):
        for g in range(G):
            u, v = (float(x) for x in uvs[b][int(out['center_indices'][b, g])])
            row, col = min(max(int(math.floor(v * gh)), 0), gh - 1), \
                min(max(int(math.floor(u * gw)), 0), gw - 1)
            expect_target[b, g] = grid_feats[b, row * gw + col]
            valid[b, g] = 0 <= u <= 1 and 0 <= v <= 1
    assert 0 < valid.sum() < 2 * G  # both kinds of patches present
    torch.testing.assert_close(target, expect_target)
    torch.testing.assert_close(kwargs['weight'][..., 0], valid.float())
    # masked mean over the in-image patches only, by hand
    mlp = model.head.mlp
    pred_hand = mlp[2](F.gelu(mlp[0](out['tokens'])))
    torch.testing.assert_close(pred, pred_hand)
    per_patch = (pred_hand - expect_target).pow(2).mean(-1)
    torch.testing.assert_close(loss, per_patch[valid].mean())
    # a swapped grid axis would pair other cells
    swapped = grid_feats.reshape(2, gh, gw, -1).transpose(1, 2).reshape(2, 15, -1)
    assert not torch.allclose(model.head.patch_targets(swapped, torch.stack(
        [torch.from_numpy(u)[out['center_indices'][b]] for b, u in enumerate(uvs)])), target)


def test_local_alignment_errors(tmp_path):
    head = dict(type='PatchAlignHead', target_dims=PATCH_DIMS, grid_size=GRID, hidden_dims=16)
    with pytest.raises(ValueError, match='set model.neck=None'):
        build(alignment='local', head=head)
    model = build(neck=None, alignment='local', head=head,
                  img_teacher=teacher_cfg(tmp_path, grid_size=(5, 3),
                                          out_shape=(PATCH_DIMS, )))
    samples, _ = local_samples(2)
    with pytest.raises(ValueError, match=r"grid_size is \(5, 3\) but model.head.grid_size = "
                       r"\(3, 5\)"):
        model(dict(points=torch.rand(2, N, 3), img=torch.rand(2, 3, 224, 224)), samples,
              mode='loss')
    # cached patch features (flat rows) work without the teacher; metainfo is required
    model = build(neck=None, alignment='local', head=head)
    cached, _ = cached_samples(2, shape=(15, PATCH_DIMS))
    with pytest.warns(UserWarning), pytest.raises(KeyError, match='points_uv'):
        model(dict(points=torch.rand(2, N, 3)), cached, mode='loss')


def test_local_loss_without_in_image_patches_is_zero():
    model = build(neck=None, alignment='local',
                  head=dict(type='PatchAlignHead', target_dims=PATCH_DIMS, grid_size=GRID,
                            hidden_dims=16))
    samples, _ = cached_samples(2, shape=(15, PATCH_DIMS))
    for s in samples:
        s.set_metainfo(dict(points_uv=np.full((N, 2), 2.0, np.float32),
                            points_in_image=np.zeros(N, bool)))
    with pytest.warns(UserWarning):
        loss = model(dict(points=torch.rand(2, N, 3)), samples, mode='loss')['loss_distill']
    assert loss.item() == 0.0 and loss.requires_grad


# ---------------------------------------------------------------------- reconstruction
REC = dict(neck=dict(type='PointMAEDecoder', depth=1, num_heads=2),
           head=dict(type='PointReconstructionHead'))


def test_reconstruction_matches_point_mae_and_decoder_sees_visible_tokens_only():
    model = build(reconstruction=REC, mask_ratio=0.6)
    pmae = MODELS.build(dict(type='PointMAE', backbone=dict(TINY_BACKBONE),
                             neck=REC['neck'], head=REC['head'], mask_ratio=0.6))
    state = {k.replace('rec_neck.', 'neck.').replace('rec_head.', 'head.'): v
             for k, v in model.state_dict().items()
             if k.startswith(('backbone.', 'rec_neck.', 'rec_head.'))}
    pmae.load_state_dict(state, strict=True)
    masks = []
    generate = model.generate_mask
    model.generate_mask = lambda centers: masks.append(generate(centers)) or masks[-1]
    calls, blocks = record_decoder_calls(model)
    points = torch.rand(2, N, 3)
    samples, _ = cached_samples(2)
    torch.manual_seed(7)
    with pytest.warns(UserWarning):
        losses = model(dict(points=points), samples, mode='loss')
    torch.manual_seed(7)
    expected = pmae(dict(points=points), mode='loss')['loss']
    assert set(losses) == {'loss_distill', 'loss_rec'}
    torch.testing.assert_close(losses['loss_rec'], expected)
    # the concept decoder's memories are the visible groups' tokens of every layer
    mask = masks[0]
    num_visible = G - int(0.6 * G)
    assert (mask.sum(1) == G - num_visible).all()
    neigh, centers, _, _ = model.backbone.group(points)
    visible_out = model.backbone.forward_visible(neigh, centers, mask)
    assert len(calls) == 2
    for layer, (_, key, _, key_pos, _) in enumerate(calls):
        assert key.shape == (2, num_visible, C)
        torch.testing.assert_close(key, model.backbone.norm(blocks[layer]))
        torch.testing.assert_close(key_pos, model.backbone.pos_embed(
            centers[~mask].reshape(2, -1, 3)))
    torch.testing.assert_close(calls[-1][1], visible_out)


def test_reconstruction_config_errors():
    with pytest.raises(KeyError, match='exactly the keys neck'):
        build(reconstruction=dict(neck=REC['neck']))
    with pytest.raises(ValueError, match=r'model\.mask_ratio must be in \(0, 1\)'):
        build(reconstruction=REC, mask_ratio=0.0)
    with pytest.raises(ValueError, match='out_indices'):
        build(backbone=dict(TINY_BACKBONE, out_indices=(-1, )))
    assert build(neck=None, backbone=dict(TINY_BACKBONE, out_indices=(-1, ))) is not None


# ---------------------------------------------------------------------- modes, export, fit
def test_predict_attaches_per_sample_errors_and_tensor_mode():
    model = build().eval()
    points = torch.rand(3, N, 3)
    samples, rows = cached_samples(3)
    with pytest.warns(UserWarning):
        loss = model(dict(points=points), samples, mode='loss')['loss_distill']
        out = model(dict(points=points), samples, mode='predict')
    mse = torch.tensor([s.distill_mse for s in out])
    # equal-size samples: the batch MSE is the mean of the per-sample MSEs
    torch.testing.assert_close(mse.mean(), loss.detach(), rtol=1e-5, atol=1e-6)
    tokens = model.student_tokens(model.encode(points, False))
    pred = model.head(tokens)
    torch.testing.assert_close(torch.tensor([s.distill_cosine for s in out]),
                               F.cosine_similarity(pred.flatten(1), rows.flatten(1)))
    feats = model(dict(points=points), mode='tensor')
    assert feats['tokens'].shape == (3, G, C)
    # masked per-sample errors by hand
    p, t = torch.randn(2, 4, 3), torch.randn(2, 4, 3)
    valid = torch.tensor([[True, False, True, False], [False] * 4])
    m, c = per_sample_errors(p, t, valid)
    assert m[0].item() == pytest.approx((p[0, [0, 2]] - t[0, [0, 2]]).pow(2).mean().item(),
                                        rel=1e-5)
    assert c[0].item() == pytest.approx(F.cosine_similarity(
        p[0, [0, 2]].flatten(), t[0, [0, 2]].flatten(), dim=0).item(), rel=1e-5)
    assert math.isnan(m[1]) and math.isnan(c[1])


def test_exported_encoder_loads_into_a_plain_backbone(tmp_path):
    export_encoder = load_tool('tools/model_converters/export_encoder.py').export_encoder
    model = build(reconstruction=REC)
    ckpt = tmp_path / 'epoch_1.pth'
    torch.save({'state_dict': model.state_dict()}, ckpt)
    n = export_encoder(str(ckpt), str(tmp_path / 'encoder.pth'))
    assert n == len(model.backbone.state_dict())
    plain = MODELS.build(dict(TINY_BACKBONE, init_cfg=dict(
        type='Pretrained', checkpoint=str(tmp_path / 'encoder.pth'))))
    plain.init_weights()
    for k, v in model.backbone.state_dict().items():
        assert torch.equal(plain.state_dict()[k], v), k


def test_overfit_one_batch():
    model = build()
    points = torch.rand(4, N, 3)
    samples, rows = cached_samples(4)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    history = []
    with pytest.warns(UserWarning):
        for _ in range(25):
            loss = model(dict(points=points), samples, mode='loss')['loss_distill']
            opt.zero_grad()
            loss.backward()
            opt.step()
            history.append(loss.item())
    assert history[-1] < 0.6 * history[0], history  # 1.06 -> 0.53 (seed 0)
    # every part of the student learns: queries, the shared layer, head, backbone
    for name in ('neck.queries', 'neck.layer.cross_attn.attn.in_proj_weight', 'head.mlp.0.weight',
                 'backbone.patch_embed'):
        assert any(n.startswith(name) and p.grad is not None and p.grad.abs().sum() > 0
                   for n, p in model.named_parameters()), name


# ---------------------------------------------------------------------- full-size configs
CLIPCAP = dict(type='ClipCapPrefixTeacher', clip=dict(type='CLIPImageTeacher'),
               checkpoint='checkpoints/clipcap_coco_mlp.pt', mapping_type='mlp',
               prefix_length=10)
FULL = dict(type='ConceptDistill',
            backbone=dict(type='PointPatchTransformer', embed_dims=384, depth=12, num_heads=6,
                          num_groups=64, group_size=32),
            neck=dict(type='ConceptQueryDecoder', num_heads=6, num_queries=32),
            head=dict(type='PrefixAlignHead', target_shape=(10, 768), hidden_dims=1024),
            img_teacher=CLIPCAP)


@pytest.mark.parametrize('name,update,head_out', [
    ('full', {}, 7680),
    ('no_concept', dict(neck=None), 7680),
    ('no_caption_model', dict(head=dict(type='PrefixAlignHead', target_shape=(512, ),
                                        hidden_dims=1024),
                              img_teacher=dict(type='CLIPImageTeacher')), 512),
    ('local', dict(neck=None, alignment='local',
                   head=dict(type='PatchAlignHead', target_dims=768, grid_size=(7, 7)),
                   img_teacher=dict(type='CLIPImageTeacher', output='patch_tokens')), 768),
    ('distill_rec', dict(reconstruction=dict(neck=dict(type='PointMAEDecoder', depth=4,
                                                       num_heads=6),
                                             head=dict(type='PointReconstructionHead')),
                         mask_ratio=0.6), 7680),
])
def test_full_size_configs_build(name, update, head_out):
    """The report's model dicts build (teachers are built on first use: no weights needed)."""
    model = MODELS.build(dict(FULL, **update))
    assert model.teachers.built == set()
    assert model.head.mlp[-1].out_features == head_out
    assert model.backbone.embed_dims == 384
    if model.with_neck:
        assert model.backbone.out_indices == tuple(range(12))
        assert model.head.mlp[0].in_features == 32 * 384
    assert (model.rec_neck is not None) == (name == 'distill_rec')


# ---------------------------------------------------------------------- pins (issue #21)
@pytest.mark.parametrize('masked', [False, True])
def test_cross_attention_keys_carry_the_centre_positions_per_layer(masked):
    """Inside every cross-attention call l: keys = layer l's tokens + the encoder's centre
    position MLP of the same groups (row for row), values = layer l's tokens without
    positions. Guards against a key position that is dropped, added to the values, or taken
    from other centres (all groups, or another order) than the tokens'."""
    kw = dict(reconstruction=REC, mask_ratio=0.6) if masked else {}
    model = build(**kw).eval()
    seen = []
    model.neck.layer.cross_attn.attn.register_forward_pre_hook(
        lambda m, a, kwargs: seen.append((kwargs['key'], kwargs['value'])), with_kwargs=True)
    masks = []
    generate = model.generate_mask
    model.generate_mask = lambda centers: masks.append(generate(centers)) or masks[-1]
    points = torch.rand(2, N, 3)
    samples, _ = cached_samples(2)
    with pytest.warns(UserWarning), torch.no_grad():
        model(dict(points=points), samples, mode='loss')
        neigh, centers, _, _ = model.backbone.group(points)
        mask = masks[0] if masked else torch.zeros(2, G, dtype=torch.bool)
        _, layer_tokens = model.backbone.encode(
            *model.backbone.embed_visible(neigh, centers, mask))
        pos = torch.stack([model.backbone.pos_embed(centers[b, ~mask[b]]) for b in range(2)])
    assert len(seen) == len(layer_tokens) == 2
    for (key, value), tokens in zip(seen, layer_tokens):
        # nn.MultiheadAttention's inputs are (L, B, C)
        torch.testing.assert_close(key.transpose(0, 1), tokens + pos)
        torch.testing.assert_close(value.transpose(0, 1), tokens)


@pytest.mark.parametrize('source', ['cache', 'teacher'])
def test_clipcap_sized_prefix_target_is_row_major(tmp_path, source):
    """A ClipCap prefix target (10, 768) reaches the loss as the teacher gives it, or, from a
    cache's flat row, as row.reshape(10, 768): element (t, d) = row[768 t + d]. Guards against a
    transposed reshape ((768, 10).T) of the flat cached row or of the teacher's output."""
    shape = (10, 768)
    head = dict(type='PrefixAlignHead', target_shape=shape, hidden_dims=8)
    if source == 'cache':
        model = build(head=head)
        samples, rows = cached_samples(2, shape=shape, flat=(0, 1))
        flat = rows.flatten(1)
        calls = capture_loss_inputs(model.head.loss_module)
        with pytest.warns(UserWarning):
            model(dict(points=torch.rand(2, N, 3)), samples, mode='loss')
    else:
        model = build(head=head, img_teacher=teacher_cfg(tmp_path, out_shape=shape))
        images = torch.rand(2, 3, 224, 224) * 255
        calls = capture_loss_inputs(model.head.loss_module)
        model(dict(points=torch.rand(2, N, 3), img=images), [Det3DDataSample()] * 2,
              mode='loss')
        # the stand-in teacher's flat output (2, 7680), before its row-major reshape
        flat = model.teachers['img'].network(F.adaptive_avg_pool2d(images / 255, 2).flatten(1))
    target = calls[0][0][1]
    assert target.shape == (2, *shape)
    torch.testing.assert_close(target, flat.reshape(2, *shape))
    assert target[1, 1, 0] == flat[1, 768] and target[1, 0, 1] == flat[1, 1]
