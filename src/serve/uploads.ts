// The images of a POST /predict request: the raw body (one image), a multipart form (one file part per image) or
// JSON ({"images": [base64, ...], "names": [...]}), held to the upload's byte limit and to a number of images.
import type { FastifyRequest } from 'fastify';

export class UploadError extends Error {
  constructor(
    message: string,
    readonly statusCode = 400,
  ) {
    super(message);
    this.name = 'UploadError';
  }
}

export interface Upload {
  /** The file name (multipart) or the name given in JSON, when there is one. */
  name?: string;
  bytes: Buffer;
}

export interface UploadLimits {
  /** The whole upload, every image together, in bytes. */
  maxBytes: number;
  /** Images in one request. */
  maxFiles: number;
}

/** The body of a JSON request, as its schema lets it through. */
export interface JsonUpload {
  images: string[];
  names?: string[];
}

/** The media types taken as one image's raw bytes. */
export const IMAGE_TYPES = [
  'image/jpeg',
  'image/png',
  'image/tiff',
  'image/bmp',
  'image/webp',
  'application/octet-stream',
];

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

const tooMany = (limits: UploadLimits): UploadError =>
  new UploadError(`more than ${limits.maxFiles} images in one request (the server's limit)`, 413);
const tooLarge = (limits: UploadLimits): UploadError =>
  new UploadError(`upload larger than ${limits.maxBytes} bytes`, 413);

async function multipartUploads(request: FastifyRequest, limits: UploadLimits): Promise<Upload[]> {
  const uploads: Upload[] = [];
  let total = 0;
  try {
    // Busboy raises the files limit at the file after the last one allowed: more files are refused, never dropped.
    for await (const file of request.files({ limits: { fileSize: limits.maxBytes, files: limits.maxFiles } })) {
      const bytes = await file.toBuffer();
      total += bytes.length;
      if (total > limits.maxBytes) throw tooLarge(limits);
      uploads.push({ name: file.filename || file.fieldname, bytes });
    }
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'FST_FILES_LIMIT') throw tooMany(limits);
    if (code === 'FST_REQ_FILE_TOO_LARGE') throw tooLarge(limits);
    // @fastify/multipart's other errors carry their status; the parser's (busboy) are the body's fault.
    if (error instanceof UploadError || (error as { statusCode?: number }).statusCode !== undefined) throw error;
    throw new UploadError(`malformed multipart upload: ${(error as Error).message}`);
  }
  if (uploads.length === 0) throw new UploadError('multipart upload without a file part');
  return uploads;
}

function jsonUploads(body: JsonUpload, limits: UploadLimits): Upload[] {
  const { images, names } = body;
  if (images.length > limits.maxFiles) throw tooMany(limits);
  if (names !== undefined && names.length !== images.length)
    throw new UploadError(`names has ${names.length} entries for ${images.length} images`);
  return images.map((text, i) => {
    if (!BASE64.test(text)) throw new UploadError(`images[${i}] is not base64`);
    return { name: names?.[i], bytes: Buffer.from(text, 'base64') };
  });
}

/** The request's images in its order; JSON bodies were checked against their schema before. */
export async function uploadsOf(request: FastifyRequest, limits: UploadLimits): Promise<Upload[]> {
  if (request.isMultipart()) return multipartUploads(request, limits);
  const body = request.body;
  if (Buffer.isBuffer(body)) return [{ bytes: body }];
  if (request.mediaType === 'application/json') return jsonUploads(body as JsonUpload, limits);
  throw new UploadError(
    'send the image bytes (Content-Type image/jpeg, image/png, ...), a multipart form with a file part per image, or JSON {"images": [base64, ...]}',
    415,
  );
}
