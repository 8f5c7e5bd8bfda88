import copy
import json
import os.path as osp
import socket
import sys

import open_clip
import pytest
import timm
import torch
from mmengine.model import BaseModule
from mmpretrain.models import VisionTransformer

from mmdet3d.registry import MODELS
import pt3kd_mm
from pt3kd_mm.testing import load_tool, random_clip

REPO = osp.dirname(osp.dirname(osp.abspath(pt3kd_mm.__file__)))
TINY = random_clip.TINY_CLIP_CFG
TINY_VIT = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)
TEXTS = ['a photo of a chair', 'an airplane', 'a lamp, on a table!']


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Building a teacher from a file (or refusing a tag) must not touch the network."""

    def refuse(*args, **kwargs):
        raise AssertionError('network I/O attempted')

    monkeypatch.setattr(socket.socket, 'connect', refuse)
    monkeypatch.setattr(socket, 'create_connection', refuse)
    monkeypatch.setattr(socket, 'getaddrinfo', refuse)


@pytest.fixture(scope='module')
def tiny_clip(tmp_path_factory):
    path = str(tmp_path_factory.mktemp('clip') / 'tiny_clip.pth')
    assert random_clip.write_random_clip(path, seed=0) == path
    clip = random_clip.build_random_clip(seed=0).eval()
    return clip, path


def images(size=32, n=2):
    """RGB images in 0-255, what the data pipeline gives the image teachers."""
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(0)) * 255


def image_teacher(path, model_cfg=TINY):
    return MODELS.build(dict(type='CLIPImageTeacher', checkpoint=path, model_cfg=model_cfg))


def text_teacher(path, model_cfg=TINY):
    return MODELS.build(dict(type='CLIPTextTeacher', checkpoint=path, model_cfg=model_cfg))


def test_image_teacher_matches_open_clip(tiny_clip):
    clip, path = tiny_clip
    teacher = image_teacher(path)
    assert teacher.embed_dims == 32 and teacher.image_size == (32, 32)
    assert teacher.mean == open_clip.OPENAI_DATASET_MEAN
    assert teacher.std == open_clip.OPENAI_DATASET_STD
    # only the image tower is kept, loaded from the whole CLIP state dict
    keys = teacher.network.state_dict().keys()
    assert keys and all(k.startswith('visual.') for k in keys)
    assert not hasattr(teacher.network, 'transformer')
    x = images()
    with torch.no_grad():
        mean = torch.tensor(open_clip.OPENAI_DATASET_MEAN).view(1, 3, 1, 1) * 255
        std = torch.tensor(open_clip.OPENAI_DATASET_STD).view(1, 3, 1, 1) * 255
        ref = clip.encode_image((x - mean) / std, normalize=False)
    out = teacher(x)
    assert out.shape == (2, 32) and not out.requires_grad
    torch.testing.assert_close(out, ref)
    assert teacher.checkpoint == path


def test_text_teacher_matches_open_clip_and_tokenizer(tiny_clip):
    clip, path = tiny_clip
    teacher = text_teacher(path)
    assert teacher.embed_dims == 32 and teacher.context_length == 77
    assert not any(k.startswith('visual.') or k == 'logit_scale'
                   for k in teacher.network.state_dict())
    tokens = teacher.tokenize(TEXTS)
    assert tokens.dtype == torch.long and tokens.shape == (3, 77)
    assert torch.equal(tokens, open_clip.tokenize(TEXTS))
    with torch.no_grad():
        ref = clip.encode_text(open_clip.tokenize(TEXTS), normalize=False)
    out = teacher(TEXTS)
    assert out.shape == (3, 32) and not out.requires_grad
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(teacher.encode_tokens(tokens), ref)
    torch.testing.assert_close(teacher(TEXTS[1]), ref[1:2])


class Student(BaseModule):

    def __init__(self, path):
        super().__init__()
        self.linear = torch.nn.Linear(32, 32)
        self.image_teacher = image_teacher(path)
        self.text_teacher = text_teacher(path)


def test_teacher_contract_as_submodule(tiny_clip):
    _, path = tiny_clip
    student = Student(path)
    assert [n for n, _ in student.named_parameters()] == ['linear.weight', 'linear.bias']
    assert sorted(student.state_dict()) == ['linear.bias', 'linear.weight']
    for teacher in (student.image_teacher, student.text_teacher):
        assert all(not p.requires_grad for p in teacher.network.parameters())
    student.train()
    for teacher in (student.image_teacher, student.text_teacher):
        assert not teacher.training and not teacher.network.training
    before = {k: v.clone() for k, v in student.image_teacher.network.state_dict().items()}
    student.init_weights()
    assert all(torch.equal(before[k], v)
               for k, v in student.image_teacher.network.state_dict().items())
    # .to() moves the teachers; the text teacher's tokens follow
    student.to(torch.float64)
    assert student.image_teacher(images()).dtype == torch.float64
    assert student.text_teacher(TEXTS).dtype == torch.float64


@pytest.fixture
def named_tiny_model(tiny_clip, tmp_path, monkeypatch):
    """The tiny CLIP as a built-in open_clip model name with a pretrained tag whose weights are
    a local file (open_clip's 'file' tag entry), so the tag path runs offline."""
    _, path = tiny_clip
    cfg_file = tmp_path / 'pt3kd-tiny-clip.json'
    cfg_file.write_text(json.dumps(TINY))
    open_clip.add_model_config(cfg_file)
    tag = dict(file=path, quick_gelu=True, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    monkeypatch.setitem(open_clip.pretrained._PRETRAINED, 'pt3kd-tiny-clip',
                        {'local_tag': tag})
    return 'pt3kd-tiny-clip'


def test_model_name_checkpoint_and_tag_paths(tiny_clip, named_tiny_model):
    clip, path = tiny_clip
    name = named_tiny_model
    by_file = MODELS.build(dict(type='CLIPTextTeacher', model_name=name, checkpoint=path))
    torch.testing.assert_close(by_file(TEXTS),
                               clip.encode_text(open_clip.tokenize(TEXTS)).detach())
    assert torch.equal(by_file.tokenize(TEXTS), open_clip.get_tokenizer(name)(TEXTS))
    # the tag: the same weights, QuickGELU as the tag says (open_clip itself would only
    # warn), the tag's normalisation
    by_tag = MODELS.build(dict(type='CLIPImageTeacher', model_name=name,
                               pretrained='local-tag'))
    assert by_tag.checkpoint is None
    assert by_tag.mean == (0.5, 0.5, 0.5) and by_tag.std == (0.25, 0.25, 0.25)
    quick = open_clip.create_model(name, pretrained=path, force_quick_gelu=True).eval()
    x = images()
    with torch.no_grad():
        torch.testing.assert_close(by_tag(x), quick.encode_image((x / 255 - 0.5) / 0.25))
        assert not torch.allclose(by_tag(x), clip.encode_image(by_tag.preprocess(x)))


def test_weight_source_errors(tiny_clip, tmp_path, monkeypatch):
    _, path = tiny_clip
    with pytest.raises(FileNotFoundError, match=r"teacher checkpoint '.*nope\.pth' does not "
                       r"exist\. On a machine with network access .*ViT-B-32-quickgelu"):
        image_teacher(str(tmp_path / 'nope.pth'))
    with pytest.raises(FileNotFoundError, match=r'no teacher weights given: pass '
                       r'checkpoint=.*torch\.save\(model\.state_dict\(\), PATH\)'):
        MODELS.build(dict(type='CLIPTextTeacher'))
    with pytest.raises(ValueError, match='not both'):
        MODELS.build(dict(type='CLIPImageTeacher', checkpoint=path, pretrained='openai'))

    def no_download(*args, **kwargs):
        raise AssertionError('create_model called for an invalid tag')

    monkeypatch.setattr(open_clip, 'create_model', no_download)
    with pytest.raises(ValueError, match=r"unknown pretrained tag 'openia' for open_clip model "
                       r"'ViT-B-32'; valid tags: \[.*'openai'.*'laion2b_s34b_b79k'"):
        MODELS.build(dict(type='CLIPImageTeacher', model_name='ViT-B-32', pretrained='openia'))
    with pytest.raises(ValueError, match=r"unknown open_clip model_name 'ViT-B-23'.*ViT-B-32"):
        MODELS.build(dict(type='CLIPTextTeacher', model_name='ViT-B-23', checkpoint=path))
    with pytest.raises(ValueError, match='reads its config from the network'):
        MODELS.build(dict(type='CLIPTextTeacher', model_name='hf-hub:laion/x', checkpoint=path))


def test_download_failure_says_how_to_pass_a_file(monkeypatch):

    def offline(*args, **kwargs):
        raise OSError('no route to host')

    monkeypatch.setattr(open_clip.factory, 'download_pretrained', offline)
    with pytest.raises(RuntimeError, match=r"could not get the open_clip weights of 'ViT-B-32' "
                       r"/ pretrained='openai' .*no route to host.*pass checkpoint=PATH"):
        MODELS.build(dict(type='CLIPImageTeacher', model_name='ViT-B-32', pretrained='openai'))


def test_mismatched_checkpoints_name_keys(tiny_clip, tmp_path):
    _, path = tiny_clip
    wide = copy.deepcopy(TINY)
    wide['vision_cfg']['width'] = 48
    with pytest.raises(RuntimeError, match=r'(?s)tiny_clip\.pth does not fit the teacher .*size '
                       r'mismatch for visual\.conv1\.weight'):
        image_teacher(path, model_cfg=wide)
    deeper = copy.deepcopy(TINY)
    deeper['text_cfg']['layers'] = 3
    with pytest.raises(KeyError, match=r"missing keys \['transformer\.resblocks\.2\."):
        text_teacher(path, model_cfg=deeper)


def test_torchscript_and_module_prefixed_files(tiny_clip, tmp_path):
    """OpenAI's CLIP files are TorchScript archives; DDP checkpoints prefix 'module.'."""
    clip, _ = tiny_clip
    x, tokens = images(), open_clip.tokenize(TEXTS)
    jit_path = str(tmp_path / 'clip_jit.pt')
    with torch.no_grad():
        torch.jit.save(torch.jit.trace(clip, (x, tokens), check_trace=False), jit_path)
        ref = clip.encode_text(tokens)
    torch.testing.assert_close(text_teacher(jit_path)(TEXTS), ref)
    ddp_path = str(tmp_path / 'ddp.pt')
    torch.save({'epoch': 3, 'state_dict': {f'module.{k}': v for k, v in
                                           clip.state_dict().items()}}, ddp_path)
    with torch.no_grad():
        teacher = image_teacher(ddp_path)
        torch.testing.assert_close(teacher(x), clip.encode_image(teacher.preprocess(x)))


def test_vit_image_teacher_matches_mmpretrain(tmp_path):
    torch.manual_seed(0)
    vit = VisionTransformer(arch=TINY_VIT, img_size=32, patch_size=8, out_type='cls_token',
                            final_norm=True)
    vit.init_weights()
    vit.eval()
    path = tmp_path / 'mmpretrain_vit.pth'
    state = {f'backbone.{k}': v for k, v in vit.state_dict().items()}
    state['head.layers.head.weight'] = torch.zeros(10, 32)
    torch.save({'meta': {}, 'state_dict': state}, path)
    teacher = MODELS.build(dict(type='ViTImageTeacher', checkpoint=str(path), arch=TINY_VIT,
                                img_size=32, patch_size=8))
    assert teacher.embed_dims == 32 and teacher.image_size == (32, 32)
    assert teacher.mean == (0.485, 0.456, 0.406) and teacher.std == (0.229, 0.224, 0.225)
    x = images()
    with torch.no_grad():
        mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1) * 255
        std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1) * 255
        ref = vit((x - mean) / std)[-1]
    out = teacher(x)
    assert out.shape == (2, 32)
    torch.testing.assert_close(out, ref)
    # a bare backbone state dict works too; a wrong size names the file
    bare = tmp_path / 'bare.pth'
    torch.save(vit.state_dict(), bare)
    torch.testing.assert_close(MODELS.build(dict(
        type='ViTImageTeacher', checkpoint=str(bare), arch=TINY_VIT, img_size=32,
        patch_size=8))(x), ref)
    with pytest.raises(RuntimeError, match=r'bare\.pth does not fit the teacher'):
        MODELS.build(dict(type='ViTImageTeacher', checkpoint=str(bare), arch='deit-tiny',
                          img_size=32, patch_size=8))


def test_vit_image_teacher_from_timm(tmp_path):
    torch.manual_seed(0)
    vit = timm.models.vision_transformer.VisionTransformer(
        img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2, mlp_ratio=2.0,
        num_classes=10).eval()
    path = tmp_path / 'timm_vit.pth'
    torch.save(vit.state_dict(), path)
    teacher = MODELS.build(dict(type='ViTImageTeacher', checkpoint=str(path), arch=TINY_VIT,
                                img_size=32, patch_size=8, source='timm'))
    x = images()
    with torch.no_grad():
        ref = vit.forward_features(teacher.preprocess(x))[:, 0]
    torch.testing.assert_close(teacher(x), ref)
    with pytest.raises(ValueError, match=r'expects \(32, 32\) images, got \(16, 16\)'):
        teacher(x[..., :16, :16])
    with pytest.raises(FileNotFoundError, match=r"'.*missing\.pth' does not exist\. Save the "
                       r'ViT once'):
        MODELS.build(dict(type='ViTImageTeacher', checkpoint=str(tmp_path / 'missing.pth')))


def test_random_clip_tool(tmp_path, monkeypatch, capsys):
    out = str(tmp_path / 'sub' / 'clip.pth')
    monkeypatch.setattr(sys, 'argv', ['random_clip_checkpoint.py', out, '--seed', '1'])
    load_tool('tools/misc/random_clip_checkpoint.py').main()
    printed = capsys.readouterr().out
    assert 'model_cfg=' in printed and "'embed_dim': 32" in printed
    with open(f'{out}.json') as f:
        cfg = json.load(f)
    assert cfg == json.loads(json.dumps(TINY))
    state = torch.load(out, weights_only=True)
    assert state['token_embedding.weight'].shape == (49408, 32)
    # the seed matters, the saved config rebuilds the model
    seed0 = random_clip.build_random_clip(seed=0).state_dict()
    assert not torch.equal(state['visual.conv1.weight'], seed0['visual.conv1.weight'])
    teacher = text_teacher(out, model_cfg=cfg)
    assert teacher.embed_dims == 32


def test_corrupt_torchscript_and_safetensors_name_the_file(tmp_path):
    """torch.jit.load's errors ("Expected hasRecord("version") ...", "Expected PROTO opcode
    ...") did not name the file; safetensors' neither."""
    import zipfile
    fake = str(tmp_path / 'ViT-B-32.pt')
    with zipfile.ZipFile(fake, 'w') as archive:  # looks TorchScript (constants.pkl), is not
        archive.writestr('ViT-B-32/constants.pkl', b'not a pickle')
    with pytest.raises(RuntimeError, match=r'CLIPImageTeacher: CLIP checkpoint .*ViT-B-32\.pt '
                       r'looks like a TorchScript archive .* torch\.jit\.load cannot read it '
                       r'\(.*\); expected an intact OpenAI CLIP \.pt'):
        image_teacher(fake)
    bad = str(tmp_path / 'open_clip_model.safetensors')
    with open(bad, 'wb') as f:
        f.write(b'garbage, not safetensors')
    with pytest.raises(RuntimeError, match=r'CLIPTextTeacher: CLIP checkpoint .*open_clip_model'
                       r'\.safetensors is unreadable as \.safetensors'):
        text_teacher(bad)
