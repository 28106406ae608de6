// What the CPU can compute, read from /proc/cpuinfo (empty where it is absent): it decides the default precision and
// the instruction set of ATen's own kernels.
import { readFileSync } from 'node:fs';

let flags: ReadonlySet<string> | undefined;

function cpuFlags(): ReadonlySet<string> {
  if (flags === undefined) {
    let info = '';
    try {
      info = readFileSync('/proc/cpuinfo', 'utf8');
    } catch {
      // not Linux: no flags, so the defaults stay libtorch's
    }
    const line = /^(?:flags|Features)\s*:(.*)$/m.exec(info);
    flags = new Set(line ? line[1].trim().split(/\s+/) : []);
  }
  return flags;
}

/**
 * Whether the CPU has bfloat16 arithmetic (x86 AVX512-BF16 or AMX, Arm BF16), which oneDNN's bf16 convolutions need
 * to be fast; elsewhere they are emulated and slower than float32.
 */
export function cpuHasNativeBf16(): boolean {
  const f = cpuFlags();
  return f.has('avx512_bf16') || f.has('amx_bf16') || f.has('bf16');
}

/**
 * The capability to ask libtorch for (ATEN_CPU_CAPABILITY's spelling), or undefined to keep its choice. PyTorch 1.12-2.0
 * default to AVX2 even where AVX-512 exists, because AVX-512 slowed some kernels on older Xeons (pytorch#80252). CPUs
 * that also have AVX512-BF16 (Cooper Lake, Sapphire Rapids and later, AMD Zen 4 and later) run them at full clock;
 * on Zen 4, AVX-512 made bf16 BatchNorm 10-40% faster and bf16 training steps up to 14% faster, and only fp32
 * MobileNetV2 about 10% slower, where --precision auto trains in bf16 anyway (README, Speed).
 */
export function preferredCpuCapability(): 'avx512' | undefined {
  const f = cpuFlags();
  return ['avx512f', 'avx512bw', 'avx512vl', 'avx512dq', 'avx512_bf16'].every((flag) => f.has(flag))
    ? 'avx512'
    : undefined;
}
