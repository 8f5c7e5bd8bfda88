"""A small re-implementation of the reference ACT code, RunpeiDong/ACT at commit d580115
(``models/dvae.py``: ``Encoder``, ``DGCNN``, ``Decoder``, ``ACTPromptedDiscreteVAEwithVIT``;
``models/act.py``: ``Block``, ``TransformerEncoder`` / ``TransformerDecoder``,
``VisableOnlyMaskTransformer``, ``ACT_PointDistillation``, ``PointTransformer``), FOR PARITY
TESTS ONLY (tests/test_tools/test_convert_act.py): module and parameter names reproduce the
reference state-dict keys exactly, forwards follow its order of operations (Conv1d / Conv2d
layouts, concatenation orders, prompt handling). Grouping (FPS + kNN) is left out: forwards take
the neighbourhoods and centres, so both sides use the same groups; the DGCNN graph is the exact
4-nearest-centre kNN (``knn_cuda`` in the reference). Not used by the package.
"""
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class Mlp(nn.Module):

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Attention(nn.Module):

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool) -> None:
        super().__init__()
        self.num_heads, self.scale = num_heads, (dim // num_heads)**-0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))


class Block(nn.Module):
    """timm-style block (the reference's ``Block``; timm ViT blocks have the same names)."""

    def __init__(self, dim: int, num_heads: int, mlp_hidden: int, qkv_bias: bool = False,
                 eps: float = 1e-5) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, num_heads, qkv_bias)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(dim, mlp_hidden)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class TransformerEncoder(nn.Module):

    def __init__(self, dim: int, depth: int, num_heads: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList([Block(dim, num_heads, dim * 4) for _ in range(depth)])

    def forward(self, x: Tensor, pos: Tensor) -> Tensor:
        for block in self.blocks:
            x = block(x + pos)
        return x


class TransformerDecoder(TransformerEncoder):

    def __init__(self, dim: int, depth: int, num_heads: int) -> None:
        super().__init__(dim, depth, num_heads)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Identity()

    def forward(self, x: Tensor, pos: Tensor, return_token_num: int) -> Tensor:
        x = super().forward(x, pos)
        return self.head(self.norm(x[:, -return_token_num:]))


class Encoder(nn.Module):
    """Mini-PointNet: Conv1d on (BG, 3, n); the 512 layer reads [global, point]."""

    def __init__(self, encoder_channel: int) -> None:
        super().__init__()
        self.encoder_channel = encoder_channel
        self.first_conv = nn.Sequential(
            nn.Conv1d(3, 128, 1), nn.BatchNorm1d(128), nn.ReLU(inplace=True),
            nn.Conv1d(128, 256, 1))
        self.second_conv = nn.Sequential(
            nn.Conv1d(512, 512, 1), nn.BatchNorm1d(512), nn.ReLU(inplace=True),
            nn.Conv1d(512, encoder_channel, 1))

    def forward(self, point_groups: Tensor) -> Tensor:
        bs, g, n, _ = point_groups.shape
        feature = self.first_conv(point_groups.reshape(bs * g, n, 3).transpose(2, 1))
        feature_global = feature.max(dim=2, keepdim=True)[0]
        feature = torch.cat([feature_global.expand(-1, -1, n), feature], dim=1)
        feature = self.second_conv(feature)
        return feature.max(dim=2)[0].reshape(bs, g, self.encoder_channel)


class DGCNN(nn.Module):

    def __init__(self, encoder_channel: int, output_channel: int) -> None:
        super().__init__()
        self.input_trans = nn.Conv1d(encoder_channel, 128, 1)

        def layer(c_in: int, c_out: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(c_in, c_out, kernel_size=1, bias=False),
                                 nn.GroupNorm(4, c_out), nn.LeakyReLU(negative_slope=0.2))

        self.layer1 = layer(256, 256)
        self.layer2 = layer(512, 512)
        self.layer3 = layer(1024, 512)
        self.layer4 = layer(1024, 1024)
        self.layer5 = nn.Sequential(nn.Conv1d(2304, output_channel, kernel_size=1, bias=False),
                                    nn.GroupNorm(4, output_channel),
                                    nn.LeakyReLU(negative_slope=0.2))

    @staticmethod
    def get_graph_feature(coor: Tensor, x: Tensor, k: int = 4) -> Tensor:
        """coor (B, 3, N), x (B, C, N) -> (B, 2C, N, k) [x_j - x_i, x_i]."""
        b, c, n = x.shape
        dist = torch.cdist(coor.transpose(1, 2), coor.transpose(1, 2))  # (B, N, N)
        idx = dist.topk(k, dim=-1, largest=False).indices  # (B, N, k)
        idx = (idx + torch.arange(b).view(-1, 1, 1) * n).reshape(-1)
        feature = x.transpose(2, 1).reshape(b * n, c)[idx].reshape(b, n, k, c)
        feature = feature.permute(0, 3, 1, 2)
        x = x.view(b, c, n, 1).expand(-1, -1, -1, k)
        return torch.cat((feature - x, x), dim=1)

    def forward(self, f: Tensor, coor: Tensor) -> Tensor:
        coor = coor.transpose(1, 2)
        f = self.input_trans(f.transpose(1, 2))
        feats = []
        for layer in (self.layer1, self.layer2, self.layer3, self.layer4):
            f = layer(self.get_graph_feature(coor, f)).max(dim=-1)[0]
            feats.append(f)
        return self.layer5(torch.cat(feats, dim=1)).transpose(-1, -2)


class Decoder(nn.Module):
    """FoldingNet decoder (grid 2)."""

    def __init__(self, encoder_channel: int, num_fine: int) -> None:
        super().__init__()
        self.num_fine, self.grid_size, self.num_coarse = num_fine, 2, num_fine // 4
        self.mlp = nn.Sequential(
            nn.Linear(encoder_channel, 1024), nn.ReLU(inplace=True), nn.Linear(1024, 1024),
            nn.ReLU(inplace=True), nn.Linear(1024, 3 * self.num_coarse))
        self.final_conv = nn.Sequential(
            nn.Conv1d(encoder_channel + 3 + 2, 512, 1), nn.BatchNorm1d(512),
            nn.ReLU(inplace=True), nn.Conv1d(512, 512, 1), nn.BatchNorm1d(512),
            nn.ReLU(inplace=True), nn.Conv1d(512, 3, 1))
        g = self.grid_size
        a = torch.linspace(-0.05, 0.05, steps=g).view(1, g).expand(g, g).reshape(1, -1)
        b = torch.linspace(-0.05, 0.05, steps=g).view(g, 1).expand(g, g).reshape(1, -1)
        self.folding_seed = torch.cat([a, b], dim=0).view(1, 2, g**2)  # not a buffer

    def forward(self, feature_global: Tensor) -> Tuple[Tensor, Tensor]:
        bs, g, c = feature_global.shape
        feature_global = feature_global.reshape(bs * g, c)
        coarse = self.mlp(feature_global).reshape(bs * g, self.num_coarse, 3)
        s = self.grid_size**2
        point_feat = coarse.unsqueeze(2).expand(-1, -1, s, -1)
        point_feat = point_feat.reshape(bs * g, self.num_fine, 3).transpose(2, 1)
        seed = self.folding_seed.unsqueeze(2).expand(bs * g, -1, self.num_coarse, -1)
        seed = seed.reshape(bs * g, -1, self.num_fine).to(feature_global)
        glob = feature_global.unsqueeze(2).expand(-1, -1, self.num_fine)
        feat = torch.cat([glob, seed, point_feat], dim=1)
        fine = self.final_conv(feat) + point_feat
        fine = fine.reshape(bs, g, 3, self.num_fine).transpose(-1, -2)
        return coarse.reshape(bs, g, self.num_coarse, 3), fine


class ACTPromptedDiscreteVAEwithVIT(nn.Module):
    """Stage 1 with a timm ViT (``visual_embed = Sequential(blocks, norm)``), deep prompts."""

    def __init__(self, encoder_dims: int, num_tokens: int, group_size: int, vit_width: int,
                 vit_depth: int, vit_heads: int, vit_mlp: int, num_prompt_token: int) -> None:
        super().__init__()
        self.num_prompt_token = num_prompt_token
        self.encoder = Encoder(encoder_dims)
        self.dgcnn_1 = DGCNN(encoder_dims, num_tokens)
        self.codebook = nn.Parameter(torch.randn(num_tokens, encoder_dims))
        self.dgcnn_2 = DGCNN(encoder_dims, encoder_dims)
        self.decoder = Decoder(encoder_dims, group_size)
        blocks = nn.Sequential(*[Block(vit_width, vit_heads, vit_mlp, qkv_bias=True, eps=1e-6)
                                 for _ in range(vit_depth)])
        self.visual_embed = nn.Sequential(blocks, nn.LayerNorm(vit_width, eps=1e-6))
        self.visual_embed_depth = vit_depth
        self.proj_pre = nn.Linear(encoder_dims, vit_width)
        self.visual_pos_embed = nn.Sequential(nn.Linear(3, 128), nn.GELU(),
                                              nn.Linear(128, vit_width))
        self.proj_post = nn.Linear(vit_width, encoder_dims)
        self.visual_prompt_proj = nn.Identity()
        self.prompt_dropout = nn.Dropout(0.1)
        p = num_prompt_token
        self.visual_prompt_token = nn.Parameter(torch.zeros(1, p, vit_width))
        self.visual_prompt_pos = nn.Parameter(torch.randn(1, p, vit_width))
        self.deep_prompt_tokens = nn.Parameter(torch.zeros(vit_depth - 1, p, vit_width))
        self.deep_prompt_pos = nn.Parameter(torch.randn(vit_depth - 1, p, vit_width))

    def visual_embedding(self, x: Tensor, center: Tensor) -> Tensor:
        """``visual_embedding_deep_prompt`` (timm case)."""
        b, p = x.shape[0], self.num_prompt_token
        pos = self.visual_pos_embed(center)
        feature = self.proj_pre(x)
        prompt = self.visual_prompt_proj(self.visual_prompt_token).expand(b, -1, -1)
        feature = torch.cat((self.prompt_dropout(prompt), feature), dim=1)
        pos = torch.cat((self.visual_prompt_pos.expand(b, -1, -1), pos), dim=1)
        hidden = None
        for i in range(self.visual_embed_depth):
            if i == 0:
                hidden = self.visual_embed[0][i](feature + pos)
            else:
                deep = self.visual_prompt_proj(self.deep_prompt_tokens[i - 1]).expand(b, -1, -1)
                hidden = torch.cat((self.prompt_dropout(deep), hidden[:, p:, :]), dim=1)
                pos = torch.cat((self.deep_prompt_pos[i - 1].expand(b, -1, -1), pos[:, p:, :]),
                                dim=1)
                hidden = self.visual_embed[0][i](hidden + pos)
        return self.proj_post(self.visual_embed[-1](hidden)[:, p:])

    def forward_tokenizer_features(self, neighborhood: Tensor, center: Tensor) -> Tensor:
        """The stage-2 target: hard Gumbel (tau 1), the prompted 2D blocks, the second DGCNN."""
        logits = self.dgcnn_1(self.encoder(neighborhood), center)
        soft_one_hot = F.gumbel_softmax(logits, tau=1., dim=2, hard=True)
        sampled = torch.einsum('b g n, n c -> b g c', soft_one_hot, self.codebook)
        return self.dgcnn_2(self.visual_embedding(sampled, center), center)

    def forward_groups(self, neighborhood: Tensor, center: Tensor, temperature: float = 1.,
                       hard: bool = False):
        """``forward`` after the grouping: (features, coarse, fine, logits)."""
        logits = self.dgcnn_1(self.encoder(neighborhood), center)
        soft_one_hot = F.gumbel_softmax(logits, tau=temperature, dim=2, hard=hard)
        sampled = torch.einsum('b g n, n c -> b g c', soft_one_hot, self.codebook)
        feature = self.dgcnn_2(self.visual_embedding(sampled, center), center)
        coarse, fine = self.decoder(feature)
        return feature, coarse, fine, logits


class VisableOnlyMaskTransformer(nn.Module):

    def __init__(self, embed_dim: int, depth: int, num_heads: int, num_tokens: int,
                 cls_dim: int = 16) -> None:
        super().__init__()
        self.encoder = Encoder(embed_dim)
        self.reduce_dim = nn.Identity()
        self.cls_token = nn.Parameter(torch.randn(1, 1, embed_dim))
        self.cls_pos = nn.Parameter(torch.randn(1, 1, embed_dim))
        self.pos_embed = nn.Sequential(nn.Linear(3, 128), nn.GELU(), nn.Linear(128, embed_dim))
        self.blocks = TransformerEncoder(embed_dim, depth, num_heads)
        self.norm = nn.LayerNorm(embed_dim)
        self.lm_head = nn.Linear(embed_dim, num_tokens)
        self.cls_head = nn.Sequential(nn.Linear(embed_dim, cls_dim), nn.GELU(),
                                      nn.Linear(cls_dim, cls_dim))

    def forward(self, neighborhood: Tensor, center: Tensor, mask: Tensor) -> Tensor:
        """-> (B, 1 + G_vis, C) normed tokens, CLS first (the reference returns [:, 1:])."""
        tokens = self.reduce_dim(self.encoder(neighborhood))
        b, _, c = tokens.shape
        x_vis = tokens[~mask].reshape(b, -1, c)
        pos = self.pos_embed(center[~mask].reshape(b, -1, 3))
        x_vis = torch.cat((self.cls_token.expand(b, -1, -1), x_vis), dim=1)
        pos = torch.cat((self.cls_pos.expand(b, -1, -1), pos), dim=1)
        return self.norm(self.blocks(x_vis, pos))


class ACT_PointDistillation(nn.Module):  # noqa: N801 (the reference's name)
    """Stage 2, ``proj: linear``, ``cls_loss: False``, with its frozen stage-1 tokenizer."""

    def __init__(self, embed_dim: int, depth: int, num_heads: int, decoder_depth: int,
                 tokenizer: ACTPromptedDiscreteVAEwithVIT, num_tokens: int) -> None:
        super().__init__()
        self.ACT_encoder = VisableOnlyMaskTransformer(embed_dim, depth, num_heads, num_tokens)
        self.dvae_tokenizer = tokenizer
        self.proj_head = nn.Linear(embed_dim, tokenizer.codebook.shape[1])
        self.mask_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.decoder_pos_embed = nn.Sequential(nn.Linear(3, 128), nn.GELU(),
                                               nn.Linear(128, embed_dim))
        self.ACT_decoder = TransformerDecoder(embed_dim, decoder_depth, num_heads)

    def forward_features(self, neighborhood: Tensor, center: Tensor, mask: Tensor):
        """-> (encoder tokens with CLS, decoded masked tokens, student_feat, teacher_feat)."""
        encoded = self.ACT_encoder(neighborhood, center, mask)
        x_vis = encoded[:, 1:]
        b, _, c = x_vis.shape
        teacher_feat = self.dvae_tokenizer.forward_tokenizer_features(neighborhood, center)
        pos_vis = self.decoder_pos_embed(center[~mask]).reshape(b, -1, c)
        pos_mask = self.decoder_pos_embed(center[mask]).reshape(b, -1, c)
        num_mask = pos_mask.shape[1]
        x_full = torch.cat([x_vis, self.mask_token.expand(b, num_mask, -1)], dim=1)
        decoded = self.ACT_decoder(x_full, torch.cat([pos_vis, pos_mask], dim=1), num_mask)
        student_feat = self.proj_head(decoded)
        teacher_feat = teacher_feat[mask].reshape(b, -1, student_feat.shape[-1])
        return encoded, decoded, student_feat, teacher_feat


class PointTransformer(nn.Module):
    """The fine-tuned classifier (``transfer_type: full``, mlp-3 head)."""

    def __init__(self, embed_dim: int, depth: int, num_heads: int, cls_dim: int) -> None:
        super().__init__()
        self.encoder = Encoder(embed_dim)
        self.reduce_dim = nn.Identity()
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.cls_pos = nn.Parameter(torch.randn(1, 1, embed_dim))
        self.pos_embed = nn.Sequential(nn.Linear(3, 128), nn.GELU(), nn.Linear(128, embed_dim))
        self.blocks = TransformerEncoder(embed_dim, depth, num_heads)
        self.norm = nn.LayerNorm(embed_dim)
        self.cls_head_finetune = nn.Sequential(
            nn.Linear(embed_dim * 2, 256), nn.BatchNorm1d(256), nn.ReLU(inplace=True),
            nn.Dropout(0.5), nn.Linear(256, 256), nn.BatchNorm1d(256), nn.ReLU(inplace=True),
            nn.Dropout(0.5), nn.Linear(256, cls_dim))

    def forward_tokens(self, neighborhood: Tensor, center: Tensor) -> Tensor:
        """-> (B, 1 + G, C) normed tokens, CLS first (``forward`` before the head)."""
        tokens = self.reduce_dim(self.encoder(neighborhood))
        b = tokens.shape[0]
        x = torch.cat((self.cls_token.expand(b, -1, -1), tokens), dim=1)
        pos = torch.cat((self.cls_pos.expand(b, -1, -1), self.pos_embed(center)), dim=1)
        return self.norm(self.blocks(x, pos))

    def forward(self, neighborhood: Tensor, center: Tensor) -> Tensor:
        """The classification logits: concat(CLS, max over the patch tokens) -> head."""
        x = self.forward_tokens(neighborhood, center)
        return self.cls_head_finetune(torch.cat([x[:, 0], x[:, 1:].max(1)[0]], dim=-1))


@torch.no_grad()
def randomise_(module: nn.Module, seed: int = 0) -> nn.Module:
    """Every parameter and BatchNorm running statistic random (not init values): weights
    ~ N(0, 1 / fan_in), norm weights ~ 1 + N(0, 0.1), biases / tokens / prompts / codebook
    ~ N(0, 0.3); running means ~ N(0, 0.2), variances ~ U(0.5, 1.5), batch counts random."""
    gen = torch.Generator().manual_seed(seed)
    norm_types = (nn.LayerNorm, nn.GroupNorm, nn.BatchNorm1d)
    for mod in module.modules():
        for name, p in mod.named_parameters(recurse=False):
            noise = torch.randn(p.shape, generator=gen)
            if isinstance(mod, norm_types) and name == 'weight':
                p.copy_(1 + 0.1 * noise)
            elif name == 'weight' and p.dim() >= 2:
                p.copy_(noise / p[0].numel()**0.5)
            else:
                p.copy_(0.3 * noise)
        if isinstance(mod, nn.BatchNorm1d):
            mod.running_mean.copy_(0.2 * torch.randn(mod.running_mean.shape, generator=gen))
            mod.running_var.copy_(0.5 + torch.rand(mod.running_var.shape, generator=gen))
            mod.num_batches_tracked.fill_(int(torch.randint(1, 1000, (1, ), generator=gen)))
    return module
