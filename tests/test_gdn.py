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


@pytest.mark.parametrize("inverse", [False, True])
def test_overwriting_the_input_gives_the_same_result(inverse, monkeypatch):
    torch.manual_seed(1)
    layer = gdn.GDN(16, inverse=inverse)
    x = torch.randn(1, 16, 29, 31).contiguous(memory_format=torch.channels_last)
    monkeypatch.setattr(gdn, "BAND_ELEMENTS", 16 * 100)  # several bands, one ragged
    with torch.no_grad():
        expected = layer(x)
        layer.overwrite_input = True
        scratch = x.clone()
        got = layer(scratch)
    assert torch.equal(got, expected)
    assert got.data_ptr() == scratch.data_ptr()  # written where the input was
    with torch.no_grad():  # an input the bands cannot cover in place falls back, untouched
        plain = x.contiguous()
        assert torch.equal(layer(plain), expected) and torch.equal(plain, x)


def test_loaded_networks_overwrite_and_training_ones_do_not():
    from aecodec import weights
    from aecodec.model import HyperpriorModel

    loaded = weights.load()
    assert all(m.overwrite_input for m in loaded.net.modules() if isinstance(m, gdn.GDN))
    fresh = HyperpriorModel(loaded.config)
    assert not any(m.overwrite_input for m in fresh.modules() if isinstance(m, gdn.GDN))
