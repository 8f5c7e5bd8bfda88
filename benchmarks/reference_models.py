"""Re-implementations of the reference repositories' order of operations, for the step
benchmarks (timing only: random weights, the same grouping and losses as pt3kd_mm).

Where they differ from pt3kd_mm, they do what the reference code does:
  * mini-PointNet (Conv1d) over ALL groups, masked tokens dropped afterwards; the 512 -> 512
    layer on the concatenated [pooled, point] features of every point;
  * attention as explicit ``softmax(q k^T) v`` (timm ``Block`` of the time);
  * ACT: the stage-1 teacher (``forward_tokenizer_features``) with Conv2d DGCNNs on
    (B, C, N, k) edge features, a dense one-hot x codebook product, ViT blocks with explicit
    attention; the cosine loss in a loop over the batch (RunpeiDong/ACT ``models/act.py``,
    ``models/dvae.py``);
  * ReCon: the queries inside every block (cross-attention over the detached local tokens),
    teachers run every step in fp32 (timm ViT-B/16 with explicit attention, CLIP text tower)
    (qizekun/ReCon ``models/ReCon.py``, ``models/transformer.py``).
"""
from typing import Iterator, List

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pt3kd_mm.models.layers import center_pos_embed
from pt3kd_mm.models.losses import chamfer_distance_l2
from pt3kd_mm.ops import knn_query


class RefAttention(nn.Module):

    def __init__(self, dim: int, heads: int, qkv_bias: bool = False) -> None:
        super().__init__()
        self.heads, self.scale = heads, (dim // heads)**-0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(
            2, 0, 3, 1, 4)
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))


class RefCrossAttention(nn.Module):

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


def _mlp(dim: int) -> nn.Module:
    return nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))


class RefBlock(nn.Module):

    def __init__(self, dim: int, heads: int, qkv_bias: bool = False) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = RefAttention(dim, heads, qkv_bias)
        self.mlp = _mlp(dim)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class RefReConBlock(RefBlock):
    """ReCon's block with_contrast: queries (first 3 tokens) cross-attend the detached,
    normalised local tokens and have their own norms / MLP."""

    def __init__(self, dim: int, heads: int, num_queries: int = 3) -> None:
        super().__init__(dim, heads)
        self.num_queries = num_queries
        self.norm1_q, self.norm2_q = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn_q = RefCrossAttention(dim, heads)
        self.mlp_q = _mlp(dim)

    def forward(self, x: Tensor) -> Tensor:
        q, local = x[:, :self.num_queries], x[:, self.num_queries:]
        q, local = self.norm1_q(q), self.norm1(local)
        q = q + self.attn_q(q, local.detach())
        local = local + self.attn(local)
        q, local = self.norm2_q(q), self.norm2(local)
        q = q + self.mlp_q(q)
        local = local + self.mlp(local)
        return torch.cat([q, local], dim=1)


class RefEncoder(nn.Module):
    """Mini-PointNet with Conv1d over every point of every group (all groups)."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.c = c
        self.first = nn.Sequential(nn.Conv1d(3, 128, 1), nn.BatchNorm1d(128), nn.ReLU(True),
                                   nn.Conv1d(128, 256, 1))
        self.second = nn.Sequential(nn.Conv1d(512, 512, 1), nn.BatchNorm1d(512),
                                    nn.ReLU(True), nn.Conv1d(512, c, 1))

    def forward(self, g: Tensor) -> Tensor:
        b, n, k, _ = g.shape
        f = self.first(g.reshape(b * n, k, 3).transpose(2, 1))
        pooled = f.max(2, keepdim=True)[0]
        f = torch.cat([pooled.expand(-1, -1, k), f], dim=1)
        return self.second(f).max(2)[0].reshape(b, n, self.c)


# ------------------------------------------------------------------ Point-MAE
class RefPointMAE(nn.Module):
    """Point-MAE: embed all groups, keep the visible ones, encoder, decoder, Conv1d head,
    Chamfer-L2. ``stages`` yields stage names between the parts (for a per-stage timing)."""

    def __init__(self, c: int = 384, depth: int = 12, dec_depth: int = 4, heads: int = 6,
                 k: int = 32) -> None:
        super().__init__()
        self.k = k
        self.encoder = RefEncoder(c)
        self.pos = center_pos_embed(c)
        self.blocks = nn.ModuleList([RefBlock(c, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(c)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, c))
        self.dec_pos = center_pos_embed(c)
        self.dec_blocks = nn.ModuleList([RefBlock(c, heads) for _ in range(dec_depth)])
        self.dec_norm = nn.LayerNorm(c)
        self.head = nn.Conv1d(c, 3 * k, 1)

    def stages(self, neigh: Tensor, centers: Tensor, mask: Tensor) -> Iterator[str]:
        b = neigh.shape[0]
        yield 'patch embed'
        tokens = self.encoder(neigh)  # all groups
        x = tokens[~mask].reshape(b, -1, tokens.shape[-1])
        pos = self.pos(centers[~mask].reshape(b, -1, 3))
        yield 'encoder'
        for blk in self.blocks:
            x = blk(x + pos)
        x = self.norm(x)
        yield 'decoder'
        pv = self.dec_pos(centers[~mask].reshape(b, -1, 3))
        pm = self.dec_pos(centers[mask].reshape(b, -1, 3))
        m = pm.shape[1]
        x = torch.cat([x, self.mask_token.expand(b, m, -1)], 1)
        p = torch.cat([pv, pm], 1)
        for blk in self.dec_blocks:
            x = blk(x + p)
        x = self.dec_norm(x[:, -m:])
        yield 'head + loss'
        rec = self.head(x.transpose(1, 2)).transpose(1, 2).reshape(b * m, -1, 3)
        gt = neigh[mask].reshape(b * m, -1, 3)
        self.loss = chamfer_distance_l2(rec, gt)

    def forward(self, neigh: Tensor, centers: Tensor, mask: Tensor) -> Tensor:
        for _ in self.stages(neigh, centers, mask):
            pass
        return self.loss


# ------------------------------------------------------------------ ACT stage 2
class RefDGCNN(nn.Module):
    """The dVAE's DGCNN in the reference layout: (B, C, N, k) edge features, Conv2d 1x1,
    GroupNorm(4), LeakyReLU, max over k; the k=4 graph of the centres per layer."""

    def __init__(self, c_in: int, c_out: int, k: int = 4) -> None:
        super().__init__()
        self.k = k
        self.input_trans = nn.Conv1d(c_in, 128, 1)

        def layer(i, o):
            return nn.Sequential(nn.Conv2d(i, o, 1, bias=False), nn.GroupNorm(4, o),
                                 nn.LeakyReLU(0.2))

        self.layers = nn.ModuleList([layer(256, 256), layer(512, 512), layer(1024, 512),
                                     layer(1024, 1024)])
        self.layer5 = nn.Sequential(nn.Conv1d(2304, c_out, 1, bias=False),
                                    nn.GroupNorm(4, c_out), nn.LeakyReLU(0.2))

    def graph_feature(self, idx: Tensor, x: Tensor) -> Tensor:
        b, c, n = x.shape
        flat = (idx + torch.arange(b).view(-1, 1, 1) * n).reshape(-1)
        feat = x.transpose(2, 1).reshape(b * n, c)[flat].reshape(b, n, self.k, c)
        feat = feat.permute(0, 3, 1, 2)
        xq = x.unsqueeze(-1).expand(-1, -1, -1, self.k)
        return torch.cat([feat - xq, xq], dim=1)

    def forward(self, f: Tensor, centers: Tensor) -> Tensor:
        with torch.no_grad():
            idx = knn_query(centers, centers, self.k)  # (B, N, k)
        f = self.input_trans(f.transpose(1, 2))
        feats = []
        for layer in self.layers:
            f = layer(self.graph_feature(idx, f)).max(dim=-1)[0]
            feats.append(f)
        return self.layer5(torch.cat(feats, dim=1)).transpose(1, 2)


class RefACTTeacher(nn.Module):
    """The stage-1 dVAE's ``forward_tokenizer_features`` with a ViT-B/16 (deep prompts)."""

    def __init__(self, c: int = 384, width: int = 768, depth: int = 12, heads: int = 12,
                 num_tokens: int = 8192, num_prompts: int = 64) -> None:
        super().__init__()
        self.num_prompts = num_prompts
        self.encoder = RefEncoder(c)
        self.dgcnn_1 = RefDGCNN(c, num_tokens)
        self.codebook = nn.Parameter(torch.randn(num_tokens, c))
        self.blocks = nn.ModuleList([RefBlock(width, heads, qkv_bias=True)
                                     for _ in range(depth)])
        self.norm = nn.LayerNorm(width)
        self.proj_pre = nn.Linear(c, width)
        self.visual_pos_embed = center_pos_embed(width)
        self.proj_post = nn.Linear(width, c)
        self.prompt = nn.Parameter(torch.zeros(1, num_prompts, width))
        self.prompt_pos = nn.Parameter(torch.randn(1, num_prompts, width))
        self.deep_prompts = nn.Parameter(torch.zeros(depth - 1, num_prompts, width))
        self.deep_prompt_pos = nn.Parameter(torch.randn(depth - 1, num_prompts, width))
        self.prompt_dropout = nn.Dropout(0.1)
        self.dgcnn_2 = RefDGCNN(c, c)

    def forward(self, neigh: Tensor, centers: Tensor) -> Tensor:
        b, p = neigh.shape[0], self.num_prompts
        logits = self.dgcnn_1(self.encoder(neigh), centers)
        one_hot = F.gumbel_softmax(logits, tau=1., dim=2, hard=True)
        sampled = torch.einsum('bgn,nc->bgc', one_hot, self.codebook)
        pos = torch.cat([self.prompt_pos.expand(b, -1, -1), self.visual_pos_embed(centers)], 1)
        x = torch.cat([self.prompt_dropout(self.prompt.expand(b, -1, -1)),
                       self.proj_pre(sampled)], 1)
        for i, blk in enumerate(self.blocks):
            if i > 0:
                x = torch.cat([self.prompt_dropout(self.deep_prompts[i - 1].expand(b, -1, -1)),
                               x[:, p:]], 1)
                pos = torch.cat([self.deep_prompt_pos[i - 1].expand(b, -1, -1), pos[:, p:]], 1)
            x = blk(x + pos)
        x = self.proj_post(self.norm(x)[:, p:])
        return self.dgcnn_2(x, centers)


class RefACTStage2(nn.Module):
    """ACT_PointDistillation: visible-only encoder with CLS (all groups embedded first),
    2-block decoder, Linear head, 1 - cosine per cloud in a loop; the teacher under no_grad."""

    def __init__(self, c: int = 384, depth: int = 12, dec_depth: int = 2,
                 heads: int = 6) -> None:
        super().__init__()
        self.encoder = RefEncoder(c)
        self.pos = center_pos_embed(c)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, c))
        self.cls_pos = nn.Parameter(torch.zeros(1, 1, c))
        self.blocks = nn.ModuleList([RefBlock(c, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(c)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, c))
        self.dec_pos = center_pos_embed(c)
        self.dec_blocks = nn.ModuleList([RefBlock(c, heads) for _ in range(dec_depth)])
        self.dec_norm = nn.LayerNorm(c)
        self.proj_head = nn.Linear(c, c)

    def forward(self, neigh: Tensor, centers: Tensor, mask: Tensor,
                teacher: nn.Module) -> Tensor:
        b = neigh.shape[0]
        tokens = self.encoder(neigh)
        c = tokens.shape[-1]
        x = torch.cat([self.cls_token.expand(b, -1, -1), tokens[~mask].reshape(b, -1, c)], 1)
        pos = torch.cat([self.cls_pos.expand(b, -1, -1),
                         self.pos(centers[~mask].reshape(b, -1, 3))], 1)
        for blk in self.blocks:
            x = blk(x + pos)
        x_vis = self.norm(x)[:, 1:]
        with torch.no_grad():
            target = teacher(neigh, centers)
        pv = self.dec_pos(centers[~mask]).reshape(b, -1, c)
        pm = self.dec_pos(centers[mask]).reshape(b, -1, c)
        m = pm.shape[1]
        x = torch.cat([x_vis, self.mask_token.expand(b, m, -1)], 1)
        p = torch.cat([pv, pm], 1)
        for blk in self.dec_blocks:
            x = blk(x + p)
        pred = self.proj_head(self.dec_norm(x[:, -m:]))
        target = target[mask].reshape(b, -1, pred.shape[-1])
        loss = pred.new_zeros(1)
        for i in range(b):
            loss = loss + (1 - F.cosine_similarity(pred[i], target[i], dim=-1).mean())
        return loss.mean() / b


# ------------------------------------------------------------------ ReCon
class RefReCon(nn.Module):
    """ReCon: queries in every encoder block, Point-MAE decoder and head, SmoothL1 of the
    projected img / text queries against the teachers, which run every step in fp32."""

    def __init__(self, img_teacher: nn.Module, text_teacher, c: int = 384, depth: int = 12,
                 dec_depth: int = 4, heads: int = 6, k: int = 32, img_dims: int = 768,
                 text_dims: int = 512) -> None:
        super().__init__()
        self.encoder = RefEncoder(c)
        self.pos = center_pos_embed(c)
        self.query_tokens = nn.Parameter(torch.zeros(1, 3, c))
        self.query_pos = nn.Parameter(torch.zeros(1, 3, c))
        self.blocks = nn.ModuleList([RefReConBlock(c, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(c)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, c))
        self.dec_pos = center_pos_embed(c)
        self.dec_blocks = nn.ModuleList([RefBlock(c, heads) for _ in range(dec_depth)])
        self.dec_norm = nn.LayerNorm(c)
        self.head = nn.Conv1d(c, 3 * k, 1)
        self.img_proj = nn.Linear(c, img_dims)
        self.text_proj = nn.Linear(c, text_dims)
        # teachers: frozen, outside the module tree (not in parameters())
        object.__setattr__(self, 'img_teacher', img_teacher)
        object.__setattr__(self, 'text_teacher', text_teacher)

    def forward(self, neigh: Tensor, centers: Tensor, mask: Tensor, images: Tensor,
                texts: List[str]) -> Tensor:
        b = neigh.shape[0]
        feats = self.encoder(neigh)
        c = feats.shape[-1]
        x = torch.cat([self.query_tokens.expand(b, -1, -1), feats[~mask].reshape(b, -1, c)], 1)
        pos = torch.cat([self.query_pos.expand(b, -1, -1),
                         self.pos(centers[~mask].reshape(b, -1, 3))], 1)
        for blk in self.blocks:
            x = blk(x + pos)
        x = self.norm(x)
        img_q, text_q, x_vis = x[:, 1], x[:, 2], x[:, 3:]
        pv = self.dec_pos(centers[~mask]).reshape(b, -1, c)
        pm = self.dec_pos(centers[mask]).reshape(b, -1, c)
        m = pm.shape[1]
        y = torch.cat([x_vis, self.mask_token.expand(b, m, -1)], 1)
        p = torch.cat([pv, pm], 1)
        for blk in self.dec_blocks:
            y = blk(y + p)
        y = self.dec_norm(y[:, -m:])
        rec = self.head(y.transpose(1, 2)).transpose(1, 2).reshape(b * m, -1, 3)
        loss = chamfer_distance_l2(rec, neigh[mask].reshape(b * m, -1, 3))
        img_feature = self.img_teacher(images)  # frozen weights, no input grad: no graph
        loss = loss + F.smooth_l1_loss(self.img_proj(img_q), img_feature)
        text_feature = self.text_teacher(texts)  # prompts tokenised inside, as the reference
        return loss + F.smooth_l1_loss(self.text_proj(text_q), text_feature)
