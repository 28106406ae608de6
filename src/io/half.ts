// IEEE half precision to single precision, exactly (float16 weights are widened on reading: the engine computes in
// float32).

let HALF_TABLE: Uint32Array | null = null;

/** float16 bit pattern -> float32 bit pattern for all 65536, as torch's .float() gives them (exact; NaNs come out quiet). */
export function halfTable(): Uint32Array {
  if (HALF_TABLE !== null) return HALF_TABLE;
  const table = new Uint32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16;
    const exponent = (h >> 10) & 0x1f;
    let mantissa = h & 0x3ff;
    if (exponent === 0x1f)
      table[h] = sign | 0x7f800000 | (mantissa << 13) | (mantissa === 0 ? 0 : 0x400000); // NaNs quieted, as torch does
    else if (exponent !== 0) table[h] = sign | ((exponent + 112) << 23) | (mantissa << 13);
    else if (mantissa === 0) table[h] = sign;
    else {
      // Subnormal: shift the mantissa up to its leading one, lowering the exponent as we go.
      let e = 113;
      while ((mantissa & 0x400) === 0) {
        mantissa <<= 1;
        e--;
      }
      table[h] = sign | (e << 23) | ((mantissa & 0x3ff) << 13);
    }
  }
  HALF_TABLE = table;
  return table;
}

/** float16 values (as their bit patterns) widened to float32. */
export function halfToFloat(half: Uint16Array): Float32Array {
  const table = halfTable();
  const out = new Uint32Array(half.length);
  for (let i = 0; i < half.length; i++) out[i] = table[half[i]];
  return new Float32Array(out.buffer);
}
