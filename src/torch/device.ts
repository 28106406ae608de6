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
