"""CLIPImageTeacher(output='patch_tokens'): the projected patch tokens of the last block, row-major
over the patch grid, against a hand computation of open_clip's VisionTransformer."""
import open_clip
import pytest
import torch
import torch.nn.functional as F

from mmdet3d.registry import MODELS
from pt3kd_mm.testing import random_clip

TINY = random_clip.TINY_CLIP_CFG  # 32 px, patch 8 -> a 4 x 4 grid, width 32, embed_dim 32


@pytest.fixture(scope='module')
def tiny_clip(tmp_path_factory):
    path = random_clip.write_random_clip(str(tmp_path_factory.mktemp('clip') / 'clip.pth'))
    return random_clip.build_random_clip(seed=0).eval(), path


def teacher(path, **kwargs):
    return MODELS.build(dict(type='CLIPImageTeacher', checkpoint=path, model_cfg=TINY,
                             precision='fp32', **kwargs))


def images(n=2, size=32):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(0)) * 255


def hand_tokens(visual, x):
    """open_clip's ViT, by hand: each patch (row i, column j) embedded by the conv kernel, in
    the order i * gw + j; class token first; + position; ln_pre; the blocks; ln_post; proj.
    Returns (class embedding (B, D), patch tokens (B, gh * gw, D))."""
    p = visual.conv1.kernel_size[0]
    gh, gw = x.shape[2] // p, x.shape[3] // p
    kernel = visual.conv1.weight.flatten(1)  # (width, 3 p p)
    patches = [x[:, :, i * p:(i + 1) * p, j * p:(j + 1) * p].flatten(1) @ kernel.T
               for i in range(gh) for j in range(gw)]
    cls = visual.class_embedding.expand(x.shape[0], 1, -1)
    seq = torch.cat([cls, torch.stack(patches, 1)], 1) + visual.positional_embedding
    seq = F.layer_norm(seq, seq.shape[-1:], visual.ln_pre.weight, visual.ln_pre.bias)
    seq = visual.transformer(seq)
    seq = F.layer_norm(seq, seq.shape[-1:], visual.ln_post.weight, visual.ln_post.bias)
    projected = seq @ visual.proj
    return projected[:, 0], projected[:, 1:]


def test_patch_tokens_match_a_hand_computation(tiny_clip):
    clip, path = tiny_clip
    tokens_teacher = teacher(path, output='patch_tokens')
    assert tokens_teacher.grid_size == (4, 4)
    assert tokens_teacher.target_shape == (16, 32) and tokens_teacher.embed_dims == 32
    x = images()
    mean = torch.tensor(open_clip.OPENAI_DATASET_MEAN).view(1, 3, 1, 1) * 255
    std = torch.tensor(open_clip.OPENAI_DATASET_STD).view(1, 3, 1, 1) * 255
    with torch.no_grad():
        cls_ref, tokens_ref = hand_tokens(clip.visual, (x - mean) / std)
        # the hand computation is open_clip's: its class token is the CLIP embedding
        torch.testing.assert_close(cls_ref, clip.encode_image((x - mean) / std))
    out = tokens_teacher(x)
    assert out.shape == (2, 16, 32) and out.dtype == torch.float32 and not out.requires_grad
    torch.testing.assert_close(out, tokens_ref)
    # the default output is unchanged: the embedding, with its target shape
    embed_teacher = teacher(path)
    assert embed_teacher.output == 'embedding' and embed_teacher.target_shape == (32, )
    assert embed_teacher.grid_size == (4, 4)
    torch.testing.assert_close(embed_teacher(x), cls_ref)


def test_patch_tokens_are_row_major(tiny_clip):
    """Token i * gw + j follows patch (i, j): without position embeddings the tower is
    permutation-equivariant over the patches, so swapping two image patches swaps exactly
    those two tokens."""
    _, path = tiny_clip
    t = teacher(path, output='patch_tokens')
    t.network.visual.positional_embedding.data.zero_()
    x = images(n=1)
    swapped = x.clone()
    # patch (row 0, column 1) <-> patch (row 2, column 3); 8 px patches
    a, b = (slice(0, 8), slice(8, 16)), (slice(16, 24), slice(24, 32))
    swapped[..., a[0], a[1]], swapped[..., b[0], b[1]] = x[..., b[0], b[1]], x[..., a[0], a[1]]
    out, out_swapped = t(x), t(swapped)
    order = list(range(16))
    order[0 * 4 + 1], order[2 * 4 + 3] = order[2 * 4 + 3], order[0 * 4 + 1]
    torch.testing.assert_close(out_swapped, out[:, order])
    assert not torch.allclose(out_swapped, out)


def test_text_teacher_target_shape_and_bad_output(tiny_clip):
    _, path = tiny_clip
    text = MODELS.build(dict(type='CLIPTextTeacher', checkpoint=path, model_cfg=TINY))
    assert text.target_shape == (32, )
    with pytest.raises(ValueError, match=r"output must be one of \('embedding', "
                       r"'patch_tokens'\), got 'tokens'"):
        teacher(path, output='tokens')
    attn_pool = dict(TINY, vision_cfg=dict(TINY['vision_cfg'], attentional_pool=True,
                                           attn_pooler_queries=4, attn_pooler_heads=2))
    with pytest.raises(ValueError, match="output='patch_tokens' needs an open_clip ViT with a "
                       'class token.*attentional pooler'):
        MODELS.build(dict(type='CLIPImageTeacher', model_cfg=attn_pool, output='patch_tokens',
                          checkpoint=random_clip.write_random_clip(
                              path + '.attn_pool.pth', attn_pool)))
