import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';

/**
 * The web module's files, read once at start and served from memory by exact URL path (no path is ever
 * joined with a request's URL, so nothing outside these files can be reached). Text files over 1 KiB are
 * also kept gzip-compressed and sent so to clients that accept it.
 */
const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

export interface AssetOptions {
  /** Content type (default: from the file name). */
  type?: string;
  /** `Access-Control-Allow-Origin: *`: public code that other sites load (scripts, ES modules). */
  cors?: boolean;
  /** Extra response headers (e.g. a Content-Security-Policy for pages). */
  headers?: Record<string, string>;
}

interface Asset {
  body: Buffer;
  gzip: Buffer | null;
  headers: Record<string, string>;
}

const COMPRESS_OVER = 1024;

export class StaticSite {
  readonly #assets = new Map<string, Asset>();

  /** Serves `content` at `urlPath`. */
  add(urlPath: string, content: string | Buffer, options: AssetOptions = {}): void {
    const body = typeof content === 'string' ? Buffer.from(content) : content;
    const type = options.type ?? CONTENT_TYPES[path.extname(urlPath)] ?? 'application/octet-stream';
    const compressible = /^(text\/|image\/svg)/.test(type) && body.length > COMPRESS_OVER;
    this.#assets.set(urlPath, {
      body,
      gzip: compressible ? zlib.gzipSync(body, { level: 9 }) : null,
      headers: {
        'content-type': type,
        'cache-control': 'no-cache',
        'x-content-type-options': 'nosniff',
        vary: 'accept-encoding',
        ...(options.cors ? { 'access-control-allow-origin': '*' } : {}),
        ...options.headers,
      },
    });
  }

  /** Serves the file at `file`. */
  addFile(urlPath: string, file: string, options: AssetOptions = {}): void {
    this.add(urlPath, fs.readFileSync(file), { type: CONTENT_TYPES[path.extname(file)], ...options });
  }

  /** Serves every file of `dir` (recursively) whose relative path `accept`s, under `urlPrefix` + its relative path. */
  addDir(urlPrefix: string, dir: string, accept: (relative: string) => boolean, options: AssetOptions = {}): void {
    for (const entry of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
      if (!entry.isFile()) continue;
      const relative = path.relative(dir, path.join(entry.parentPath, entry.name)).split(path.sep).join('/');
      if (accept(relative)) this.addFile(`${urlPrefix}${relative}`, path.join(entry.parentPath, entry.name), options);
    }
  }

  has(urlPath: string): boolean {
    return this.#assets.has(urlPath);
  }

  /** The size of what is served at `urlPath` (raw and gzip-compressed), for tests and budgets. */
  size(urlPath: string): { raw: number; gzip: number } | undefined {
    const asset = this.#assets.get(urlPath);
    return asset && { raw: asset.body.length, gzip: (asset.gzip ?? zlib.gzipSync(asset.body, { level: 9 })).length };
  }

  /** The response for `urlPath`, or undefined when nothing is served there. */
  respond(urlPath: string, request: Request, ResponseClass: typeof Response): Response | undefined {
    const asset = this.#assets.get(urlPath);
    if (!asset) return undefined;
    const gzip = asset.gzip !== null && /\bgzip\b/.test(request.headers.get('accept-encoding') ?? '');
    const body = gzip ? asset.gzip! : asset.body;
    const headers = { ...asset.headers, 'content-length': String(body.length), ...(gzip ? { 'content-encoding': 'gzip' } : {}) };
    return new ResponseClass(request.method === 'HEAD' ? null : new Uint8Array(body), { status: 200, headers });
  }
}
