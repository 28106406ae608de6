// Devices: 'cpu' always; 'cuda' / 'cuda:N' when the libtorch in use was built with CUDA and sees that GPU.
import { binding } from './native.js';

export type Device = 'cpu' | 'cuda' | `cuda:${number}`;

const DEVICE_NAME = /^(?:cpu|cuda(?::(\d+))?)$/;

/** Whether the string names a device ('cpu', 'cuda', 'cuda:N'), available or not. */
export function isDeviceName(name: string): boolean {
  return DEVICE_NAME.test(name);
}

export function checkDevice(device: string): Device {
  if (device === 'cpu') return device;
  const match = DEVICE_NAME.exec(device);
  if (!match) throw new TypeError(`unknown device '${device}' (expected 'cpu', 'cuda' or 'cuda:N')`);
  const index = match[1] === undefined ? 0 : Number(match[1]);
  const count = binding.cudaDeviceCount();
  if (count === 0) {
    throw new Error(
      `device '${device}' is not available: this libtorch (${binding.version()}) has no CUDA support or sees no GPU. ` +
        'Build dsdnet against a CUDA libtorch (set LIBTORCH) on a machine with a GPU, or use cpu.',
    );
  }
  if (index >= count) throw new Error(`device '${device}' is not available: libtorch sees ${count} CUDA device(s)`);
  return device as Device;
}

/** A device named by a user: 'auto' is the first GPU when libtorch sees one, else the CPU; others as checkDevice. */
export function resolveDevice(name: string): Device {
  if (name === 'auto') return binding.cudaDeviceCount() > 0 ? 'cuda:0' : 'cpu';
  return checkDevice(name);
}

/** The kind of a device ('cuda:1' -> 'cuda'), what autocast and the process-group backends are chosen by. */
export function deviceType(device: Device): 'cpu' | 'cuda' {
  return device === 'cpu' ? 'cpu' : 'cuda';
}
