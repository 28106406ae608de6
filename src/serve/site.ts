// The files of the page, wherever it is served from: the server's routes and `export --web`'s folder are this list.
// The page (web/), the preparation it shares with Node (shared/preprocess.js, as compiled), ONNX Runtime Web and
// wasm-vips; each with its content type, how long browsers may keep it, and whether it must be cross-origin isolated.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { brotliCompress, constants } from 'node:zlib';

import { packageRoot } from '../torch/index.js';

export interface SiteFile {
  /** Relative to the page's folder, e.g. 'ort/ort.wasm.min.js'. */
  path: string;
  type: string;
  bytes: Buffer;
  /** Cache-Control: the page and the model are revalidated (ETag); the runtimes are kept a day. */
  cacheControl: string;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.json': 'application/json; charset=utf-8',
  '.onnx': 'application/octet-stream',
  '.jpg': 'image/jpeg',
};
export const REVALIDATE = 'no-cache';
const A_DAY = 'public, max-age=86400';

function contentType(path: string): string {
  return TYPES[/\.[a-z]+$/.exec(path)?.[0] ?? ''] ?? 'application/octet-stream';
}

/** The page's own files (src/serve/web, not compiled). */
const PAGE_FILES = ['index.html', 'app.js', 'style.css', 'sw.js'];
/** ONNX Runtime Web, single-threaded WebAssembly. */
const ORT_WEB_FILES = ['ort.wasm.min.js', 'ort-wasm-simd-threaded.wasm', 'ort-wasm-simd-threaded.mjs'];
/** wasm-vips without its optional libraries (HEIF, JPEG XL, SVG). */
const VIPS_FILES = ['vips-es6.js', 'vips.wasm'];

function packageDir(name: string): string {
  return dirname(createRequire(import.meta.url).resolve(name));
}

/** Every file the page needs besides the model and its examples. */
export function pageFiles(): SiteFile[] {
  const read = (dir: string, file: string, path: string, cacheControl: string): SiteFile => ({
    path,
    type: contentType(file),
    bytes: readFileSync(join(dir, file)),
    cacheControl,
  });
  const web = join(packageRoot(), 'src', 'serve', 'web');
  const shared = fileURLToPath(new URL('./shared/', import.meta.url));
  const ortDir = packageDir('onnxruntime-web');
  const vipsDir = packageDir('wasm-vips');
  return [
    ...PAGE_FILES.map((f) => read(web, f, f, REVALIDATE)),
    read(shared, 'preprocess.js', 'shared/preprocess.js', REVALIDATE),
    ...ORT_WEB_FILES.map((f) => read(ortDir, f, `ort/${f}`, A_DAY)),
    ...VIPS_FILES.map((f) => read(vipsDir, f, `vips/${f}`, A_DAY)),
  ];
}

/** A strong validator for a file's bytes. */
export function etagOf(bytes: Uint8Array): string {
  return `"${createHash('sha1').update(bytes).digest('base64url')}"`;
}

const COMPRESSIBLE = /^(text\/|application\/(wasm|json))/;

const compress = promisify(brotliCompress);

/**
 * Brotli for text and WebAssembly (quality 9: a 14 MB runtime in 1.6 s, in libuv's thread pool, not on the event
 * loop); null when not worth it.
 */
export async function brotliOf(file: Pick<SiteFile, 'type' | 'bytes'>): Promise<Buffer | null> {
  if (!COMPRESSIBLE.test(file.type) || file.bytes.length < 1024) return null;
  const compressed = await compress(file.bytes, {
    params: { [constants.BROTLI_PARAM_QUALITY]: 9, [constants.BROTLI_PARAM_SIZE_HINT]: file.bytes.length },
  });
  return compressed.length < 0.9 * file.bytes.length ? compressed : null;
}
