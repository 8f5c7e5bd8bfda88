"""The point-patch transformer encoder of the Point-MAE lineage (Point-MAE, ACT, ReCon)."""
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
from mmengine.model import BaseModule
from mmengine.model.weight_init import trunc_normal_
from torch import Tensor, nn

from mmdet3d.registry import MODELS

from ..layers.patch_embed import MiniPointNetEmbed, center_pos_embed
from ...ops import group_points
from ..layers.transformer import PosAddedTransformer
from ..utils.weight_init import default_init_cfg


@MODELS.register_module()
class PointPatchTransformer(BaseModule):
    """FPS + kNN groups -> mini-PointNet tokens -> ViT blocks with the centre position MLP added
    before every block -> LayerNorm.

    Args:
        embed_dims: token width C.
        depth: number of transformer blocks.
        num_heads: attention heads.
        mlp_ratio: MLP hidden width / C.
        num_groups: G, groups (tokens) per cloud, centres by FPS.
        group_size: K, points per group, by kNN.
        qkv_bias: bias of the qkv projection (the reference has none).
        drop_rate / attn_drop_rate: dropout rates.
        drop_path_rate: stochastic depth, rising linearly 0 -> this value over the blocks.
        with_cls_token: prepend a learnable CLS token with a learnable position.
        out_indices: blocks whose (normed) patch tokens are also returned, e.g. (3, 7, 11) for
            segmentation. Negative indices count from the end.
        final_norm: LayerNorm after the last block.
        point_ops_backend: FPS / kNN backend ('auto', 'numba', 'torch', 'mmcv').
        block_type: 'prenorm' (Point-MAE, ACT) or 'renorm' (ReCon's residual restarting from
            the normalised tensor, see ``RenormResidualBlock``).
        embed_all_groups: in masked pre-training (``forward_visible``), run the mini-PointNet
            over all groups and drop the masked tokens afterwards, as the reference code does
            (its BatchNorm statistics then come from every group). False embeds only the
            visible groups: the patch encoder costs 1 - mask_ratio as much, and its training-
            mode BatchNorm sees visible groups only (a deviation; eval mode is identical).
        init_cfg: default: truncated normal (std 0.02) Linear layers, unit norms; or e.g.
            ``dict(type='Pretrained', checkpoint=..., prefix='backbone.')``, which refuses a
            checkpoint with another shape or a missing key, except the CLS token and its
            position (``optional_pretrained_keys``): a pre-training without them (Point-MAE)
            leaves them at their truncated normal init.
    """

    # keys a Pretrained init_cfg may not find in a pre-training checkpoint
    # (see pt3kd_mm/utils/checkpoint.py)
    optional_pretrained_keys = ('cls_token', 'cls_pos')

    def __init__(self,
                 embed_dims: int = 384,
                 depth: int = 12,
                 num_heads: int = 6,
                 mlp_ratio: float = 4.0,
                 num_groups: int = 64,
                 group_size: int = 32,
                 qkv_bias: bool = False,
                 drop_rate: float = 0.0,
                 attn_drop_rate: float = 0.0,
                 drop_path_rate: float = 0.1,
                 with_cls_token: bool = False,
                 out_indices: Sequence[int] = (-1, ),
                 final_norm: bool = True,
                 point_ops_backend: str = 'auto',
                 block_type: str = 'prenorm',
                 embed_all_groups: bool = True,
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(init_cfg=default_init_cfg(init_cfg))
        self.embed_dims = embed_dims
        self.depth = depth
        self.num_groups = num_groups
        self.group_size = group_size
        self.with_cls_token = with_cls_token
        self.drop_rate, self.attn_drop_rate, self.drop_path_rate = \
            drop_rate, attn_drop_rate, drop_path_rate
        self.point_ops_backend = point_ops_backend
        self.embed_all_groups = embed_all_groups
        self.out_indices = tuple(sorted(i % depth for i in out_indices))

        self.patch_embed = MiniPointNetEmbed(embed_dims)
        self.pos_embed = center_pos_embed(embed_dims)
        if with_cls_token:
            self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dims))
            self.cls_pos = nn.Parameter(torch.zeros(1, 1, embed_dims))
        self.transformer = PosAddedTransformer(
            embed_dims, depth, num_heads, mlp_ratio, qkv_bias, drop_rate, attn_drop_rate,
            drop_path_rate, block_type)
        self.norm = nn.LayerNorm(embed_dims) if final_norm else nn.Identity()

    # ------------------------------------------------------------------ weights
    def init_weights(self) -> None:
        """Layers by ``init_cfg`` (default: truncated normal std 0.02 Linear layers, unit
        norms); the CLS token and position truncated normal std 0.02, before a ``Pretrained``
        ``init_cfg`` (which mmengine applies last) can overwrite them."""
        if self.with_cls_token:
            trunc_normal_(self.cls_token, std=0.02)
            trunc_normal_(self.cls_pos, std=0.02)
        super().init_weights()

    @property
    def num_prefix_tokens(self) -> int:
        """Tokens that ``encode`` puts before the patch tokens (the CLS token)."""
        return 1 if self.with_cls_token else 0

    # ------------------------------------------------------------------ stages
    def group(self, points: Tensor) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        """points (B, N, 3+) -> neighborhood (B, G, K, 3), centers (B, G, 3),
        group_idx (B, G, K), center_idx (B, G)."""
        if points.dim() != 3 or points.shape[-1] < 3:
            raise ValueError(f'{type(self).__name__} expects points of shape (B, N, 3+), '
                             f'got {tuple(points.shape)}')
        num_points = points.shape[1]
        if num_points < max(self.num_groups, self.group_size):
            raise ValueError(
                f'{type(self).__name__}: a cloud of {num_points} points cannot form '
                f'{self.num_groups} groups of {self.group_size} points; sample at least '
                f'{max(self.num_groups, self.group_size)} points per cloud or lower '
                f'num_groups / group_size')
        xyz = points[..., :3]
        if not torch.isfinite(xyz).all():
            bad = (~torch.isfinite(xyz)).flatten(1).any(1).nonzero().flatten().tolist()
            raise ValueError(f'{type(self).__name__}: NaN or infinite coordinates in clouds '
                             f'{bad} of the batch')
        return group_points(xyz.contiguous(), self.num_groups, self.group_size,
                            self.point_ops_backend)

    def encode(self, tokens: Tensor, centers: Tensor) -> Tuple[Tensor, Tuple[Tensor, ...]]:
        """Transformer over patch tokens.

        Args:
            tokens: (B, L, C) patch tokens; centers: (B, L, 3) their centres.

        Returns:
            the normed output (B, L(+1), C), CLS first when ``with_cls_token``, and the normed
            patch tokens (B, L, C) of the blocks in ``out_indices``.
        """
        pos = self.pos_embed(centers)
        if self.with_cls_token:
            batch = tokens.shape[0]
            tokens = torch.cat([self.cls_token.expand(batch, -1, -1), tokens], dim=1)
            pos = torch.cat([self.cls_pos.expand(batch, -1, -1), pos], dim=1)
        x, outs = self.transformer(tokens, pos, self.out_indices)
        start = 1 if self.with_cls_token else 0
        return self.norm(x), tuple(self.norm(o[:, start:]) for o in outs)

    def forward_visible(self, neighborhood: Tensor, centers: Tensor, mask: Tensor) -> Tensor:
        """Encode only the visible groups (masked pre-training).

        With ``embed_all_groups`` (default, the reference) every group is embedded and the
        masked tokens are dropped; otherwise only the visible groups are embedded.

        Args:
            neighborhood: (B, G, K, 3); centers: (B, G, 3);
            mask: (B, G) bool, True = masked, the same count in every cloud.

        Returns:
            (B, num_prefix_tokens + G_visible, C) normed tokens, CLS first when
            ``with_cls_token``.
        """
        x, _ = self.encode(*self.embed_visible(neighborhood, centers, mask))
        return x

    def embed_visible(self, neighborhood: Tensor, centers: Tensor,
                      mask: Tensor) -> Tuple[Tensor, Tensor]:
        """The patch tokens (B, G_visible, C) and centres (B, G_visible, 3) of the visible
        groups (mask (B, G) bool, True = masked), embedded as ``embed_all_groups`` says (see
        ``forward_visible``)."""
        batch, _, k, _ = neighborhood.shape
        visible = ~mask
        if self.embed_all_groups:
            tokens = self.patch_embed(neighborhood)
            tokens = tokens[visible].reshape(batch, -1, tokens.shape[-1])
        else:
            tokens = self.patch_embed(neighborhood[visible].reshape(batch, -1, k, 3))
        return tokens, centers[visible].reshape(batch, -1, 3)

    def forward(self, points: Tensor) -> Dict[str, Union[Tensor, Tuple[Tensor, ...]]]:
        """Encode whole clouds.

        Args:
            points: (B, N, 3+) only xyz is used.

        Returns:
            dict with ``tokens`` (B, G, C) normed patch tokens of the last block, ``cls_token``
            (B, C) when ``with_cls_token``, ``multi_level_tokens`` (the blocks of
            ``out_indices``), ``prefix_tokens`` (B, P, C) the tokens before the patches (CLS,
            global queries) when there are any, ``centers`` (B, G, 3), ``center_indices``
            (B, G) and ``group_indices`` (B, G, K), indices into the N input points.
        """
        neighborhood, centers, group_idx, center_idx = self.group(points)
        x, outs = self.encode(self.patch_embed(neighborhood), centers)
        out = dict(
            tokens=x[:, self.num_prefix_tokens:],
            multi_level_tokens=outs,
            centers=centers,
            center_indices=center_idx,
            group_indices=group_idx)
        if self.num_prefix_tokens:
            out['cls_token'] = x[:, 0]
            out['prefix_tokens'] = x[:, :self.num_prefix_tokens]
        return out

    def split_prefix(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        """(B, P + L, C) ``encode`` output -> prefix tokens (B, P, C), patch tokens (B, L, C)."""
        return x[:, :self.num_prefix_tokens], x[:, self.num_prefix_tokens:]
