"""Loads dsdnet checkpoints into torchvision models with Debian's python3-torch, reading safetensors by the published
format only (8-byte little-endian header length, JSON header, little-endian data), and compares outputs.

    node dist/scripts/interop-sample.js /tmp/interop && /usr/bin/python3 scripts/interop_pytorch.py /tmp/interop
"""
import json
import os
import struct
import sys

import torch
import torchvision

DTYPES = {'F32': torch.float32, 'F64': torch.float64, 'I64': torch.int64, 'I32': torch.int32, 'U8': torch.uint8,
          'BOOL': torch.bool}


def read_safetensors(path):
    with open(path, 'rb') as f:
        data = f.read()
    (header_len,) = struct.unpack('<Q', data[:8])
    header = json.loads(data[8:8 + header_len])
    base = 8 + header_len
    tensors = {}
    for name, entry in header.items():
        if name == '__metadata__':
            continue
        begin, end = entry['data_offsets']
        raw = bytearray(data[base + begin:base + end])
        tensors[name] = torch.frombuffer(raw, dtype=DTYPES[entry['dtype']]).reshape(entry['shape']).clone()
    return tensors, header.get('__metadata__', {})


def main(root):
    worst = 0.0
    for name in sorted(os.listdir(root)):
        weights, metadata = read_safetensors(os.path.join(root, name, 'latest', 'model.safetensors'))
        sample, _ = read_safetensors(os.path.join(root, name, 'sample.safetensors'))
        model = getattr(torchvision.models, metadata['backbone'])(num_classes=int(metadata['numClasses']))
        model.load_state_dict(weights, strict=True)
        model.eval()
        with torch.no_grad():
            out = model(sample['input'])
        diff = (out - sample['output']).abs().max().item()
        scale = sample['output'].abs().max().item()
        worst = max(worst, diff / scale)
        print(f'{name}: {len(weights)} tensors loaded strictly; max |torchvision - dsdnet| = {diff:.3g} (output scale {scale:.3g})')
    print('identical within 1e-4 relative' if worst <= 1e-4 else f'MISMATCH: worst relative difference {worst:.3g}')
    return 0 if worst <= 1e-4 else 1


if __name__ == '__main__':
    sys.exit(main(sys.argv[1]))
