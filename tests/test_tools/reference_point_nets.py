"""FOR PARITY TESTS ONLY: small re-implementations of the reference repositories' networks,
with their module names, so that a random state dict in their key layout can be written,
converted by tools/model_converters/ and compared with pt3kd_mm's features.

Re-implemented from (order of operations and parameter names, nothing else):
  * Pang-Yatian/Point-MAE 7445a68 ``models/Point_MAE.py``: ``Encoder``, ``Block``,
    ``TransformerEncoder``, ``TransformerDecoder``, ``MaskTransformer``, ``Point_MAE``,
    ``PointTransformer`` (fine-tune);
  * qizekun/ReCon 51a8be0 ``models/transformer.py`` (``Block`` with ``with_contrast``,
    ``CrossAttention``, ``PointTransformer``) and ``models/ReCon.py`` (``MaskTransformer``,
    ``ReCon``).
Grouping and masking are inputs here (the tests give both sides the same groups and mask).
"""
from typing import Dict, Tuple

import torch
from torch import Tensor, nn


class Encoder(nn.Module):
    """mini-PointNet: cat([pooled, point]) before the second convolution."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.first_conv = nn.Sequential(nn.Conv1d(3, 128, 1), nn.BatchNorm1d(128),
                                        nn.ReLU(inplace=True), nn.Conv1d(128, 256, 1))
        self.second_conv = nn.Sequential(nn.Conv1d(512, 512, 1), nn.BatchNorm1d(512),
                                         nn.ReLU(inplace=True), nn.Conv1d(512, channels, 1))
        self.channels = channels

    def forward(self, groups: Tensor) -> Tensor:
        b, g, n, _ = groups.shape
        f = self.first_conv(groups.reshape(b * g, n, 3).transpose(2, 1))
        pooled = f.max(dim=2, keepdim=True)[0]
        f = self.second_conv(torch.cat([pooled.expand(-1, -1, n), f], dim=1))
        return f.max(dim=2)[0].reshape(b, g, self.channels)


class Mlp(nn.Module):

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Attention(nn.Module):

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads, self.scale = heads, (dim // heads)**-0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=False)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(
            2, 0, 3, 1, 4)
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))


class CrossAttention(nn.Module):

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads, self.scale = heads, (dim // heads)**-0.5
        self.q = nn.Linear(dim, dim, bias=False)
        self.kv = nn.Linear(dim, dim * 2, bias=False)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        b, n, c = y.shape
        k, v = self.kv(y).reshape(b, n, 2, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        m = x.shape[1]
        q = self.q(x).reshape(b, m, self.heads, c // self.heads).transpose(1, 2)
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, m, c))


class Block(nn.Module):
    """Pre-norm block; ``with_contrast`` (ReCon's encoder): 3 queries first, the local tokens'
    residual restarting from the normalised tensor, queries cross-attending them."""

    def __init__(self, dim: int, heads: int, with_contrast: bool = False) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn, self.mlp = Attention(dim, heads), Mlp(dim, dim * 4)
        self.with_contrast = with_contrast
        if with_contrast:
            self.norm1_contrast, self.norm2_contrast = nn.LayerNorm(dim), nn.LayerNorm(dim)
            self.mlp_contrast = Mlp(dim, dim * 4)
            self.attn_contrast = CrossAttention(dim, heads)

    def forward(self, x: Tensor) -> Tensor:
        if not self.with_contrast:
            x = x + self.attn(self.norm1(x))
            return x + self.mlp(self.norm2(x))
        cls, vis = x[:, :3], x[:, 3:]
        cls = self.norm1_contrast(cls)
        vis = self.norm1(vis)
        cls = cls + self.attn_contrast(cls, vis)  # .detach() in pre-training: same value
        vis = vis + self.attn(vis)
        cls = self.norm2_contrast(cls)
        vis = self.norm2(vis)
        cls = cls + self.mlp_contrast(cls)
        vis = vis + self.mlp(vis)
        return torch.cat((cls, vis), dim=1)


class TransformerEncoder(nn.Module):

    def __init__(self, dim: int, depth: int, heads: int, with_contrast: bool = False) -> None:
        super().__init__()
        self.blocks = nn.ModuleList([Block(dim, heads, with_contrast) for _ in range(depth)])

    def forward(self, x: Tensor, pos: Tensor) -> Tensor:
        for block in self.blocks:
            x = block(x + pos)
        return x


class TransformerDecoder(nn.Module):

    def __init__(self, dim: int, depth: int, heads: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList([Block(dim, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: Tensor, pos: Tensor, num_mask: int) -> Tensor:
        for block in self.blocks:
            x = block(x + pos)
        return self.norm(x[:, -num_mask:])


def pos_mlp(dim: int) -> nn.Module:
    return nn.Sequential(nn.Linear(3, 128), nn.GELU(), nn.Linear(128, dim))


class MaskTransformer(nn.Module):
    """Point-MAE's (``recon=False``) or ReCon's (``recon=True``, 3 queries) masked encoder."""

    def __init__(self, dim: int, depth: int, heads: int, recon: bool = False) -> None:
        super().__init__()
        self.encoder = Encoder(dim)
        self.pos_embed = pos_mlp(dim)
        self.recon = recon
        if recon:
            for name in ('cls_token', 'cls_pos', 'img_token', 'text_token', 'img_pos',
                         'text_pos'):
                setattr(self, name, nn.Parameter(torch.zeros(1, 1, dim)))
        self.blocks = TransformerEncoder(dim, depth, heads, with_contrast=recon)
        self.norm = nn.LayerNorm(dim)

    def forward(self, neighborhood: Tensor, center: Tensor, mask: Tensor) -> Tensor:
        tokens = self.encoder(neighborhood)
        b, _, c = tokens.shape
        x = tokens[~mask].reshape(b, -1, c)
        pos = self.pos_embed(center[~mask].reshape(b, -1, 3))
        if self.recon:
            e = lambda p: p.expand(b, -1, -1)  # noqa: E731
            x = torch.cat([e(self.cls_token), e(self.img_token), e(self.text_token), x], 1)
            pos = torch.cat([e(self.cls_pos), e(self.img_pos), e(self.text_pos), pos], 1)
        return self.norm(self.blocks(x, pos))


class MaskedPretrain(nn.Module):
    """``Point_MAE`` (``recon=False``) or ``ReCon`` (``recon=True``) pre-training model."""

    def __init__(self, dim: int = 32, depth: int = 2, heads: int = 2, decoder_depth: int = 2,
                 group_size: int = 8, recon: bool = False, img_dims: int = 24,
                 text_dims: int = 20) -> None:
        super().__init__()
        self.MAE_encoder = MaskTransformer(dim, depth, heads, recon)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.decoder_pos_embed = pos_mlp(dim)
        self.MAE_decoder = TransformerDecoder(dim, decoder_depth, heads)
        self.increase_dim = nn.Sequential(nn.Conv1d(dim, 3 * group_size, 1))
        self.recon = recon
        if recon:
            # stand-ins for the frozen CLIP / ViT towers the reference saves with the model
            self.img_encoder = nn.Sequential(nn.Linear(4, img_dims))
            self.text_encoder = nn.Sequential(nn.Linear(4, text_dims))
            self.img_proj = nn.Linear(dim, img_dims)
            self.text_proj = nn.Linear(dim, text_dims)

    def forward(self, neighborhood: Tensor, center: Tensor, mask: Tensor) -> Dict[str, Tensor]:
        x = self.MAE_encoder(neighborhood, center, mask)
        out = {}
        if self.recon:
            out.update(queries=x[:, :3], img=self.img_proj(x[:, 1]),
                       text=self.text_proj(x[:, 2]))
            x = x[:, 3:]
        b, _, c = x.shape
        pos_vis = self.decoder_pos_embed(center[~mask]).reshape(b, -1, c)
        pos_mask = self.decoder_pos_embed(center[mask]).reshape(b, -1, c)
        n = pos_mask.shape[1]
        dec = self.MAE_decoder(torch.cat([x, self.mask_token.expand(b, n, -1)], 1),
                               torch.cat([pos_vis, pos_mask], 1), n)
        points = self.increase_dim(dec.transpose(1, 2)).transpose(1, 2).reshape(b, n, -1, 3)
        out.update(visible=x, decoded=dec, points=points)
        return out


class FinetuneEncoder(nn.Module):
    """The fine-tune ``PointTransformer`` of Point-MAE (``recon=False``: CLS) or ReCon
    (``recon=True``: cls / img / text queries); ``forward`` returns the normed tokens before
    the head, ``logits`` the classification logits (``linear``: ReCon's ``type: linear`` head,
    one Linear)."""

    def __init__(self, dim: int = 32, depth: int = 2, heads: int = 2, recon: bool = False,
                 num_classes: int = 5, linear: bool = False) -> None:
        super().__init__()
        self.recon = recon
        names = ('cls_token', 'cls_pos') + (
            ('img_token', 'text_token', 'img_pos', 'text_pos') if recon else ())
        for name in names:
            setattr(self, name, nn.Parameter(torch.zeros(1, 1, dim)))
        self.encoder = Encoder(dim)
        self.pos_embed = pos_mlp(dim)
        self.blocks = TransformerEncoder(dim, depth, heads, with_contrast=recon)
        self.norm = nn.LayerNorm(dim)
        width = dim * (4 if recon else 2)
        if linear:
            self.cls_head_finetune = nn.Sequential(nn.Linear(width, num_classes))
        else:
            self.cls_head_finetune = nn.Sequential(
                nn.Linear(width, 256), nn.BatchNorm1d(256), nn.ReLU(inplace=True),
                nn.Dropout(0.5), nn.Linear(256, 256), nn.BatchNorm1d(256),
                nn.ReLU(inplace=True), nn.Dropout(0.5), nn.Linear(256, num_classes))

    def logits(self, neighborhood: Tensor, center: Tensor) -> Tensor:
        """The reference's ``forward``: concat(CLS (ReCon: cls, img, text), max over the patch
        tokens) -> ``cls_head_finetune``."""
        x = self(neighborhood, center)
        prefix = 3 if self.recon else 1
        concat = torch.cat([x[:, i] for i in range(prefix)] + [x[:, prefix:].max(1)[0]], -1)
        return self.cls_head_finetune(concat)

    def forward(self, neighborhood: Tensor, center: Tensor) -> Tensor:
        x = self.encoder(neighborhood)
        b = x.shape[0]
        pos = self.pos_embed(center)
        e = lambda p: p.expand(b, -1, -1)  # noqa: E731
        if self.recon:
            x = torch.cat([e(self.cls_token), e(self.img_token), e(self.text_token), x], 1)
            pos = torch.cat([e(self.cls_pos), e(self.img_pos), e(self.text_pos), pos], 1)
        else:
            x = torch.cat([e(self.cls_token), x], 1)
            pos = torch.cat([e(self.cls_pos), pos], 1)
        return self.norm(self.blocks(x, pos))


def randomise(model: nn.Module, seed: int = 0) -> nn.Module:
    """Every parameter and BatchNorm statistic random (not the initial values), eval mode."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, value in model.state_dict().items():
            if value.dtype == torch.long:
                continue
            rand = torch.randn(value.shape, generator=gen) * 0.3
            if name.endswith('running_var'):
                rand = rand.abs() + 0.5
            value.copy_(rand)
    return model.eval()


def fixed_groups(batch: int = 2, num_groups: int = 8, group_size: int = 8,
                 seed: int = 1) -> Tuple[Tensor, Tensor, Tensor]:
    """(neighborhood (B, G, K, 3), centers (B, G, 3), mask (B, G) with G // 2 masked)."""
    gen = torch.Generator().manual_seed(seed)
    neighborhood = torch.randn(batch, num_groups, group_size, 3, generator=gen) * 0.1
    centers = torch.randn(batch, num_groups, 3, generator=gen)
    mask = torch.zeros(batch, num_groups, dtype=torch.bool)
    for b in range(batch):
        mask[b, torch.randperm(num_groups, generator=gen)[:num_groups // 2]] = True
    return neighborhood, centers, mask
