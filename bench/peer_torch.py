"""The PyTorch peer of the benchmark workers: a torchvision model, the same step and timing, printed as JSON.

Usage: python3 bench/peer_torch.py MODE MODEL SIZE BATCH WARMUP ITERS THREADS   (MODE: train | train-rmsprop | infer)
"""
import json
import sys
import time

import torch
import torch.nn.functional as F
import torchvision


def peak_rss_mib():
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmHWM:'):
                return int(line.split()[1]) / 1024
    raise RuntimeError('VmHWM not found')


def main():
    mode, name = sys.argv[1], sys.argv[2]
    size, batch, warmup, iters, threads = map(int, sys.argv[3:8])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(num_classes=1000)
    x = torch.randn(batch, 3, size, size)
    y = torch.randint(0, 1000, (batch,))
    if mode == 'train-rmsprop':
        opt = torch.optim.RMSprop(model.parameters(), lr=1e-4, alpha=0.99, eps=1e-8, weight_decay=1e-5)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def train_step():
        F.cross_entropy(model(x), y).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    def infer_step():
        with torch.no_grad():
            model(x)

    model.train(mode != 'infer')
    step = infer_step if mode == 'infer' else train_step
    times = []
    for i in range(warmup + iters):
        start = time.perf_counter()
        step()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    print(json.dumps({'times': times, 'peakRssMiB': peak_rss_mib()}))


if __name__ == '__main__':
    main()
