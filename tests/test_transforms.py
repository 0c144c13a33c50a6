"""The sub-pixel form of g_s's image layer computes what a transposed convolution with the
same parameters computes, forward and backward, at any size (window edges included)."""
import torch
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st

from aecodec.nn.transforms import SubpixelDeconv


@settings(max_examples=25, deadline=None)
@given(cin=st.integers(1, 8), cout=st.integers(1, 5), h=st.integers(1, 9), w=st.integers(1, 9),
       seed=st.integers(0, 2**16))
def test_subpixel_deconv_equals_transposed_convolution(cin, cout, h, w, seed):
    torch.manual_seed(seed)
    layer = SubpixelDeconv(cin, cout)
    x = torch.randn(2, cin, h, w, requires_grad=True)
    ours = layer(x)
    ref = F.conv_transpose2d(x, layer.weight, layer.bias, stride=2, padding=2, output_padding=1)
    assert ours.shape == ref.shape == (2, cout, 2 * h, 2 * w)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)
    g = torch.randn_like(ref)
    params = [x, layer.weight, layer.bias]
    for a, b in zip(torch.autograd.grad((ours * g).sum(), params),
                    torch.autograd.grad((ref * g).sum(), params)):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_subpixel_deconv_keeps_the_transposed_convolution_parameters():
    layer = SubpixelDeconv(16, 3)
    assert isinstance(layer, torch.nn.ConvTranspose2d)
    assert {k: v.shape for k, v in layer.state_dict().items()} == {
        "weight": (16, 3, 5, 5), "bias": (3,)}
