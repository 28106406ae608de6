// Peak resident set size of this process (VmHWM), in MiB.
import { readFileSync, writeFileSync } from 'node:fs';

export function peakRssMiB(): number {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  if (!match) throw new Error('VmHWM not found in /proc/self/status');
  return Number(match[1]) / 1024;
}

/** Resets the peak (Linux: writing 5 to /proc/self/clear_refs), so that the next reading covers what follows. */
export function resetPeakRss(): void {
  writeFileSync('/proc/self/clear_refs', '5');
}
