"""AOTInductor on the CPU compiles a dynamic-shape 3D conv fed by a replicate pad (the HunyuanVideo VAE decoder's
causal conv), which torch's own lowering fails on without vgen's workaround (ValueRangeError: Invalid ranges)."""

import torch
import torch.nn.functional as F
from torch.export import Dim


class CausalConv(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv3d(4, 8, 3)

    def forward(self, z):
        return self.conv(F.pad(z, (1, 1, 1, 1, 2, 0), mode="replicate"))


def test_dynamic_causal_conv_compiles_and_matches(tmp_path):
    from vgen_export.aoti import package

    torch.manual_seed(0)
    module = CausalConv().eval()
    x = torch.randn(1, 4, 2, 4, 6)
    dims = {2: Dim("t", min=1, max=16), 3: Dim("h", min=1, max=32), 4: Dim("w", min=1, max=32)}
    program = torch.export.export(module, (x,), dynamic_shapes=(dims,))
    path = tmp_path / "conv.pt2"
    with package._tolerant_stride_checks():
        torch._inductor.aoti_compile_and_package(program, package_path=str(path))
    compiled = torch._inductor.aoti_load_package(str(path))
    for shape in ((1, 4, 2, 4, 6), (1, 4, 3, 6, 4)):
        z = torch.randn(shape)
        with torch.no_grad():
            torch.testing.assert_close(compiled(z), module(z), rtol=1e-5, atol=1e-5)
