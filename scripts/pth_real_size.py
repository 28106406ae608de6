"""Real-size torchvision checkpoints for dsdnet's torch.save reader (a check run by hand, not in CI).

    /usr/bin/python3 scripts/pth_real_size.py /tmp/pth-real && npx tsc -p tsconfig.json && node dist/scripts/pth-real-size.js /tmp/pth-real

Writes into OUT_DIR (argv[1]), for torchvision's resnet18, resnet50 and mobilenet_v2 with 1000 classes, seeded
random initialisation (nothing is downloaded) and random BatchNorm statistics and affine parameters (so that eval mode
does not reduce BatchNorm to nearly the identity):
  NAME.pth            torch.save(model.state_dict()) in the zip format (the default since PyTorch 1.6)
  NAME_input.npy      a fixed seeded input, float32 [2, 3, 224, 224]
  NAME_features.npy   PyTorch's eval-mode pooled features, the backbone's output before the classifier, [2, C]
  NAME_logits.npy     PyTorch's eval-mode logits, [2, 1000]
scripts/pth-real-size.ts then loads each .pth with dsdnet's reader and compares.
"""
import os
import sys

import numpy as np
import torch
import torchvision

MODELS = ['resnet18', 'resnet50', 'mobilenet_v2']


def randomize_batchnorm(model, generator):
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                c = m.num_features
                m.weight.copy_(torch.rand(c, generator=generator) + 0.5)
                m.bias.copy_(torch.randn(c, generator=generator) * 0.1)
                m.running_mean.copy_(torch.randn(c, generator=generator) * 0.1)
                m.running_var.copy_(torch.rand(c, generator=generator) * 1.5 + 0.5)
                m.num_batches_tracked.fill_(int(torch.randint(1, 100000, (1,), generator=generator)))


def pooled_features(model, name, x):
    if name.startswith('resnet'):
        m = model
        y = m.maxpool(m.relu(m.bn1(m.conv1(x))))
        y = m.layer4(m.layer3(m.layer2(m.layer1(y))))
        return torch.flatten(m.avgpool(y), 1)
    return torch.flatten(torch.nn.functional.adaptive_avg_pool2d(model.features(x), 1), 1)


def main(out):
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(1)  # the machine is shared
    for seed, name in enumerate(MODELS):
        torch.manual_seed(seed)
        model = getattr(torchvision.models, name)(weights=None, num_classes=1000)
        randomize_batchnorm(model, torch.Generator().manual_seed(100 + seed))
        model.eval()
        path = os.path.join(out, f'{name}.pth')
        torch.save(model.state_dict(), path, _use_new_zipfile_serialization=True)
        x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(200 + seed))
        with torch.no_grad():
            features = pooled_features(model, name, x)
            logits = model(x)
            assert torch.allclose(model.fc(features) if name.startswith('resnet') else model.classifier(features), logits, atol=1e-5)
        np.save(os.path.join(out, f'{name}_input.npy'), x.numpy())
        np.save(os.path.join(out, f'{name}_features.npy'), features.numpy())
        np.save(os.path.join(out, f'{name}_logits.npy'), logits.numpy())
        print(f'{path}: {len(model.state_dict())} tensors, {os.path.getsize(path) / 2**20:.1f} MiB; '
              f'features {list(features.shape)} (max |f| {features.abs().max().item():.4g}), '
              f'logits {list(logits.shape)} (max |z| {logits.abs().max().item():.4g})')


if __name__ == '__main__':
    if len(sys.argv) != 2:
        sys.exit('usage: pth_real_size.py OUT_DIR')
    main(sys.argv[1])
