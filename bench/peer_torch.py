"""The PyTorch peer of the benchmark workers: a torchvision model (bench/peer_models.py's where torchvision is
absent), the same step and timing, printed as JSON.

Usage: python3 bench/peer_torch.py MODE MODEL SIZE BATCH PRECISION LAYOUT WARMUP ITERS THREADS [DEVICE]
  MODE: train | train-rmsprop | infer | optim | optim-plain (see bench/worker-loop.ts)
  PRECISION: fp32 | bf16 (torch.autocast on the device); LAYOUT: contiguous | channelsLast
  DEVICE: cpu (default) | cuda | cuda:N (each step timed to the end of its kernels; cudnn.benchmark on)
   or: python3 bench/peer_torch.py flops MODEL SIZE BATCH   (multiply-adds of convolutions and linear layers x 2,
       forward only; a training step is counted as 3 forwards)
"""
import json
import sys
import time

import torch
import torch.nn.functional as F

try:
    import torchvision

    def build(name):
        return getattr(torchvision.models, name)(num_classes=1000)
except ImportError:  # a PyTorch without torchvision (e.g. on the GPU machine): the same architectures in torch.nn
    from peer_models import build


def peak_rss_mib():
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmHWM:'):
                return int(line.split()[1]) / 1024
    raise RuntimeError('VmHWM not found')


def forward_flops(model, x):
    total = 0

    def count(module, inputs, output):
        nonlocal total
        if isinstance(module, torch.nn.Conv2d):
            kernel = module.weight[0].numel()  # in/groups * kh * kw
            total += 2 * output.numel() * kernel
        elif isinstance(module, torch.nn.Linear):
            total += 2 * output.numel() * module.in_features

    hooks = [m.register_forward_hook(count) for m in model.modules()]
    with torch.no_grad():
        model.eval()(x)
    for h in hooks:
        h.remove()
    return total


def main():
    mode, name = sys.argv[1], sys.argv[2]
    if mode == 'flops':
        size, batch = int(sys.argv[3]), int(sys.argv[4])
        model = build(name)
        print(json.dumps({'forwardFlops': forward_flops(model, torch.randn(batch, 3, size, size))}))
        return
    size, batch = int(sys.argv[3]), int(sys.argv[4])
    precision, layout = sys.argv[5], sys.argv[6]
    warmup, iters, threads = map(int, sys.argv[7:10])
    device = torch.device(sys.argv[10] if len(sys.argv) > 10 else 'cpu')
    on_gpu = device.type == 'cuda'
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    torch.backends.cudnn.benchmark = on_gpu
    memory_format = torch.channels_last if layout == 'channelsLast' else torch.contiguous_format
    model = build(name).to(device, memory_format=memory_format)
    x = torch.randn(batch, 3, size, size, device=device).contiguous(memory_format=memory_format)
    y = torch.randint(0, 1000, (batch,), device=device)
    if mode in ('train-rmsprop', 'optim', 'optim-plain'):
        opt = torch.optim.RMSprop(model.parameters(), lr=1e-4, alpha=0.99, eps=1e-8, weight_decay=1e-5, foreach=mode != 'optim-plain')
    else:
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def forward():
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == 'bf16'):
            return model(x)

    def train_step():
        F.cross_entropy(forward().float(), y).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    def infer_step():
        with torch.no_grad():
            forward()

    if mode in ('optim', 'optim-plain'):
        for p in model.parameters():
            p.grad = torch.randn_like(p)
        step = opt.step
    else:
        model.train(mode != 'infer')
        step = infer_step if mode == 'infer' else train_step
    times = []
    for i in range(warmup + iters):
        start = time.perf_counter()
        step()
        if on_gpu:
            torch.cuda.synchronize(device)
        if i >= warmup:
            times.append(time.perf_counter() - start)
    print(json.dumps({'times': times, 'peakRssMiB': peak_rss_mib()}))


if __name__ == '__main__':
    main()
