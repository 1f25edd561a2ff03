import pytest
import torch

from models import MODELS, build_model


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("channels,size", [(1, 8), (3, 32)])
def test_every_model_has_forward_and_features(name, channels, size):
    torch.manual_seed(0)
    model = build_model(name, 7, channels, size).eval()
    x = torch.randn(3, channels, size, size)
    assert model(x).shape == (3, 7)
    feats = model.features(x)
    assert feats.shape == (3, model.feature_dim)
    assert torch.allclose(model.fc(feats), model(x), atol=1e-5)


def test_resnet18_is_the_cifar_variant():
    m = build_model("resnet18", 15)
    assert m.stem[0].kernel_size == (3, 3) and m.stem[0].stride == (1, 1)
    assert not any(isinstance(mod, torch.nn.MaxPool2d) for mod in m.modules())
    assert m.feature_dim == 512


def test_unknown_model():
    with pytest.raises(ValueError, match="unknown network 'resnet9'"):
        build_model("resnet9", 3)
