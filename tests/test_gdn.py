"""GDN / IGDN: the CPU inference path that works in bands of pixels gives the same numbers as
the whole-tensor one, and inference matches the training formula."""
import pytest
import torch

import aecodec.nn.gdn as gdn


@pytest.mark.parametrize("inverse", [False, True])
@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
def test_bands_give_the_whole_tensor_result(inverse, memory_format, monkeypatch):
    torch.manual_seed(0)
    layer = gdn.GDN(16, inverse=inverse)
    with torch.no_grad():
        layer.gamma_raw.add_(0.1 * torch.rand_like(layer.gamma_raw))
    x = torch.randn(2, 16, 37, 23).contiguous(memory_format=memory_format)
    with torch.no_grad():
        monkeypatch.setattr(gdn, "BAND_ELEMENTS", 2**60)
        whole = layer(x)
        monkeypatch.setattr(gdn, "BAND_ELEMENTS", 16 * 230)  # bands of 230 pixels, one ragged
        banded = layer(x)
    assert torch.equal(banded, whole)
    assert banded.is_contiguous(memory_format=memory_format)
    reference = layer(x)  # gradients on: the training formula
    torch.testing.assert_close(banded, reference.detach(), rtol=1e-6, atol=1e-6)
