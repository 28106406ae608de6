// Hostile uploads for the server's tests and its abuse benchmark: a tiny bitmap declaring a huge size, and multipart
// bodies a parser cannot make sense of.

/** A 1 KB RLE8 bitmap that declares width x height and holds only its end-of-bitmap code. */
export function hostileBmp(width: number, height: number): Buffer {
  const pixelOffset = 14 + 40 + 256 * 4; // file header, info header, a 256-colour palette
  const out = Buffer.alloc(pixelOffset + 2);
  out.write('BM', 0, 'latin1');
  out.writeUInt32LE(out.length, 2);
  out.writeUInt32LE(pixelOffset, 10);
  out.writeUInt32LE(40, 14);
  out.writeInt32LE(width, 18);
  out.writeInt32LE(height, 22);
  out.writeUInt16LE(1, 26); // planes
  out.writeUInt16LE(8, 28); // bits per pixel
  out.writeUInt32LE(1, 30); // BI_RLE8
  out.set([0, 1], pixelOffset); // end of bitmap
  return out;
}

/** Malformed multipart uploads: what, Content-Type, body. */
export const MALFORMED_MULTIPART: readonly { what: string; contentType: string; body: string }[] = [
  {
    what: 'garbage for a multipart body',
    contentType: 'multipart/form-data; boundary=xyz',
    body: 'no parts here at all',
  },
  {
    what: 'a truncated multipart body',
    contentType: 'multipart/form-data; boundary=xyz',
    body: '--xyz\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\n\r\n\xff\xd8',
  },
  { what: 'multipart without a boundary', contentType: 'multipart/form-data', body: 'x' },
];
