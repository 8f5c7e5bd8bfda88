"""ACT stage 1: a dVAE around a frozen, prompt-tuned 2D transformer (ACT, Dong et al.,
ICLR 2023; reference code RunpeiDong/ACT)."""
import math
from typing import Dict, List, Optional

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.model.weight_init import trunc_normal_
from torch import Tensor, nn

from mmdet3d.registry import MODELS

from ..layers.dgcnn import TokenDGCNN
from ..layers.folding_decoder import FoldingGroupDecoder
from ..layers.patch_embed import MiniPointNetEmbed, center_pos_embed
from ...ops import group_points
from ..losses.chamfer_loss import chamfer_distance_l1


def kl_to_uniform(logits: Tensor) -> Tensor:
    """KL(mean code distribution || uniform), per cloud, averaged over the batch.

    Args:
        logits: (B, G, num_tokens).
    """
    mean_q = F.softmax(logits, dim=-1).mean(dim=1)  # (B, num_tokens)
    log_q = torch.log(mean_q.clamp_min(1e-20))
    return (mean_q * (log_q + math.log(logits.shape[-1]))).sum(-1).mean()


@MODELS.register_module()
class ACTAutoencoder(BaseModel):
    """Point tokens -> DGCNN -> code logits -> Gumbel-softmax -> codebook -> Linear to the 2D
    width -> frozen 2D blocks with (deep) prompts and the centre position MLP added before every
    block -> drop prompts -> Linear back -> DGCNN -> FoldingNet decoder (coarse + fine).

    ``gumbel_tau`` and ``kl_weight`` are attributes, scheduled by ``CosineScheduleHook``.
    ``forward(mode='tensor')`` returns the features after the second DGCNN (the stage-2 target).

    Args:
        vit_blocks: a ``FrozenViTBlocks`` config (the frozen 2D transformer).
        embed_dims: point-token width (384).
        num_groups / group_size: grouping (64 x 32).
        num_tokens: codebook size (8192).
        num_prompts: learnable prompt tokens (64).
        deep_prompts: fresh prompts before every block (otherwise only before the first).
        dgcnn_k: neighbours of the DGCNN centre graph (4).
        gumbel_tau / kl_weight: initial values (the hooks set them every iteration).
    """

    def __init__(self,
                 vit_blocks: dict,
                 embed_dims: int = 384,
                 num_groups: int = 64,
                 group_size: int = 32,
                 num_tokens: int = 8192,
                 num_prompts: int = 64,
                 deep_prompts: bool = True,
                 dgcnn_k: int = 4,
                 gumbel_tau: float = 1.0,
                 kl_weight: float = 0.0,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(
            data_preprocessor=data_preprocessor or dict(type='PointCloudPreprocessor'),
            init_cfg=init_cfg)
        self.embed_dims, self.num_groups, self.group_size = embed_dims, num_groups, group_size
        self.num_prompts, self.deep_prompts = num_prompts, deep_prompts
        self.gumbel_tau, self.kl_weight = gumbel_tau, kl_weight
        self.patch_embed = MiniPointNetEmbed(embed_dims)
        self.dgcnn_1 = TokenDGCNN(embed_dims, num_tokens, dgcnn_k)
        self.codebook = nn.Parameter(torch.randn(num_tokens, embed_dims))
        self.vit = MODELS.build(vit_blocks)
        width = self.vit.embed_dims
        self.input_proj = nn.Linear(embed_dims, width)
        self.pos_embed = center_pos_embed(width)
        n_sets = self.vit.num_blocks if deep_prompts else 1
        self.prompts = nn.Parameter(torch.zeros(n_sets, num_prompts, width))
        self.prompt_pos = nn.Parameter(torch.zeros(1, num_prompts, width))
        self.output_proj = nn.Linear(width, embed_dims)
        self.dgcnn_2 = TokenDGCNN(embed_dims, embed_dims, dgcnn_k)
        self.decoder = FoldingGroupDecoder(embed_dims, group_size, grid_size=2)

    def init_weights(self) -> None:
        """Prompts and their positions truncated normal std 0.02 (before a ``Pretrained``
        ``init_cfg`` can overwrite them), other layers by ``init_cfg``."""
        trunc_normal_(self.prompts, std=0.02)
        trunc_normal_(self.prompt_pos, std=0.02)
        super().init_weights()

    def encode(self, points: Tensor, hard: bool = False) -> Dict[str, Tensor]:
        """points (B, N, 3) -> dict(features (B, G, C) after the second DGCNN, logits
        (B, G, num_tokens), neighborhood (B, G, K, 3), centers (B, G, 3))."""
        neighborhood, centers, _, _ = group_points(points[..., :3].contiguous(),
                                                   self.num_groups, self.group_size)
        return self.encode_groups(neighborhood, centers, hard)

    def encode_groups(self, neighborhood: Tensor, centers: Tensor,
                      hard: bool = False) -> Dict[str, Tensor]:
        """The same from already formed groups (B, G, K, 3) / (B, G, 3), e.g. a student's, so
        that teacher and student features describe the same groups."""
        graph = self.dgcnn_1.graph(centers)  # the same centre graph serves both DGCNNs
        logits = self.dgcnn_1(self.patch_embed(neighborhood), centers, graph)
        codes = F.gumbel_softmax(logits, tau=self.gumbel_tau, hard=hard, dim=-1)
        x = self.input_proj(codes @ self.codebook)
        batch, p = x.shape[0], self.num_prompts
        pos = torch.cat([self.prompt_pos.expand(batch, -1, -1), self.pos_embed(centers)], 1)
        x = torch.cat([self.prompts[0].expand(batch, -1, -1), x], dim=1)
        for i in range(self.vit.num_blocks):
            if self.deep_prompts and i > 0:
                x = torch.cat([self.prompts[i].expand(batch, -1, -1), x[:, p:]], dim=1)
            x = self.vit.forward_block(i, x + pos)
        x = self.output_proj(self.vit.final_norm(x)[:, p:])
        features = self.dgcnn_2(x, centers, graph)
        return dict(features=features, logits=logits, neighborhood=neighborhood,
                    centers=centers)

    def loss(self, inputs: Dict[str, Tensor],
             data_samples: Optional[List] = None) -> Dict[str, Tensor]:
        out = self.encode(inputs['points'])
        coarse, fine = self.decoder(out['features'])
        target = out['neighborhood'].flatten(0, 1)  # (B * G, K, 3)
        return dict(
            loss_coarse=chamfer_distance_l1(coarse.flatten(0, 1), target),
            loss_fine=chamfer_distance_l1(fine.flatten(0, 1), target),
            loss_kl=self.kl_weight * kl_to_uniform(out['logits']))

    def forward(self, inputs: Dict[str, Tensor], data_samples: Optional[List] = None,
                mode: str = 'tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'tensor':
            return self.encode(inputs['points'], hard=True)['features']
        raise RuntimeError(f'{type(self).__name__} supports the modes "loss" and "tensor", '
                           f'got {mode!r}')
