// A thin REST client for Canopy over the grpc-gateway routes (/v1/...).
//
// Requests and responses are the generated messages in ./gen (protoc-gen-es
// from proto/), converted with toJson/fromJson, so JSON field names
// (lowerCamelCase), enums as names and 64-bit integers as strings are handled
// by the generated code, exactly as the gateway's protojson does.
//
// It needs only fetch, ReadableStream and TextDecoder/TextEncoder: Node 20+,
// Deno, Bun and browsers. Streaming uploads need a fetch that accepts a
// ReadableStream body (Node 20+ and Chromium do; Firefox and Safari do not).

import {
  create,
  enumToJson,
  fromJson,
  toJsonString,
  type DescMessage,
  type JsonValue,
  type MessageInitShape,
  type MessageShape,
} from "@bufbuild/protobuf";
import {
  AnalysisSchema,
  ImageSchema,
  ImageStatusSchema,
  type Analysis,
  type BandRole,
  type Image,
  type ImageStatus,
} from "./gen/canopy/v1/image_pb.js";
import {
  CancelImageRequestSchema,
  RetryImageRequestSchema,
  UploadImageRequestSchema,
  UploadImageResponseSchema,
  UploadMetadataSchema,
  type UploadImageResponse,
} from "./gen/canopy/v1/ingest_pb.js";
import {
  GetQueueStatsResponseSchema,
  ListImagesResponseSchema,
  WatchImageResponseSchema,
  WatchImagesResponseSchema,
  type GetQueueStatsResponse,
  type ListImagesResponse,
  type WatchImageResponse,
  type WatchImagesResponse,
} from "./gen/canopy/v1/status_pb.js";

/** gRPC status code names, indexed by number (google.rpc.Code). */
const codeNames = [
  "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
  "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
  "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
  "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
] as const;

/**
 * CanopyError is a failed call: the HTTP status (for an error in the middle
 * of a stream, the 200 the stream started with), and the gRPC status the
 * gateway sent as JSON (`{"code": 5, "message": "...", "details": [...]}`).
 */
export class CanopyError extends Error {
  override readonly name = "CanopyError";
  constructor(
    /** HTTP status code of the response. */
    readonly httpStatus: number,
    /** gRPC status code (5 is NOT_FOUND, 3 INVALID_ARGUMENT...). */
    readonly code: number,
    message: string,
    /** google.rpc.Status details as JSON (`@type` plus fields), unparsed. */
    readonly details: JsonValue[] = [],
  ) {
    super(message);
  }
  /** The gRPC code's name, such as "NOT_FOUND". */
  get codeName(): string {
    return codeNames[this.code] ?? `CODE_${this.code}`;
  }
  override toString(): string {
    return `CanopyError: HTTP ${this.httpStatus} ${this.codeName}: ${this.message}`;
  }
}

export interface CanopyClientOptions {
  /** ingest-svc REST address: "http://127.0.0.1:8001" (a bare host:port gets http://). */
  ingestUrl?: string;
  /** status-svc REST address: "http://127.0.0.1:8002". */
  statusUrl?: string;
  /** fetch to use; the global one by default. */
  fetch?: typeof globalThis.fetch;
  /** Headers sent with every request. */
  headers?: Record<string, string>;
  /** API key ("cnp_..."), sent as "Authorization: Bearer KEY" with every request. */
  apiKey?: string;
}

export interface CallOptions {
  signal?: AbortSignal;
}

export interface ListImagesOptions extends CallOptions {
  status?: ImageStatus;
  batchId?: string;
  /** 1 to 1000; the server uses 100 when unset. */
  pageSize?: number;
  pageToken?: string;
}

export interface WatchOptions extends CallOptions {
  /** Resume after this event sequence number (from an earlier event's seq). */
  afterSeq?: bigint;
}

/** Data of one file to upload. */
export type UploadData =
  | Uint8Array
  | Blob
  | ReadableStream<Uint8Array>
  | AsyncIterable<Uint8Array>
  | Iterable<Uint8Array>;

export interface UploadFile {
  filename: string;
  /** Optional; the server sniffs the type from the bytes. */
  contentType?: string;
  /** For one band of a rig capture. */
  bandRole?: BandRole;
  data: UploadData;
}

export interface UploadOptions extends CallOptions {
  /** Files in order: one for a photo or a multi-band raster, one per band of a capture. */
  files: UploadFile[];
  /** The rest of UploadMetadata (batchId, bandLayout, gps, clientUploadId...); files are filled in from `files`. */
  metadata?: Omit<MessageInitShape<typeof UploadMetadataSchema>, "files" | "$typeName">;
  /** Bytes per chunk message; default 256 KiB. Must stay below the server's GRPC_MAX_RECV_BYTES (4 MiB) after base64. */
  chunkSize?: number;
}

const defaultChunkSize = 256 * 1024;

/**
 * CanopyClient calls ingest-svc's and status-svc's REST gateways.
 *
 * ```ts
 * const canopy = new CanopyClient({ ingestUrl: "http://127.0.0.1:8001", statusUrl: "http://127.0.0.1:8002" });
 * const { imageId } = await canopy.uploadImage({ files: [{ filename: "a.jpg", data: bytes }] });
 * for await (const { image } of canopy.watchImage(imageId)) console.log(image?.status);
 * const analysis = await canopy.getAnalysis(imageId);
 * ```
 */
export class CanopyClient {
  private readonly ingestUrl: string;
  private readonly statusUrl: string;
  private readonly fetchFn: typeof globalThis.fetch;
  private readonly headers: Record<string, string>;

  constructor(opts: CanopyClientOptions = {}) {
    this.ingestUrl = baseUrl(opts.ingestUrl ?? "http://127.0.0.1:8001");
    this.statusUrl = baseUrl(opts.statusUrl ?? "http://127.0.0.1:8002");
    this.fetchFn = opts.fetch ?? globalThis.fetch.bind(globalThis);
    this.headers = { ...(opts.headers ?? {}) };
    if (opts.apiKey) this.headers["Authorization"] = `Bearer ${opts.apiKey}`;
  }

  // ---- status-svc ----------------------------------------------------------

  /** GET /v1/images/{id}. A missing image throws CanopyError with httpStatus 404. */
  async getImage(imageId: string, opts: CallOptions = {}): Promise<Image> {
    return this.unary(ImageSchema, this.statusUrl, "GET", `/v1/images/${seg(imageId)}`, undefined, opts);
  }

  /** GET /v1/images: one page; pass nextPageToken back as pageToken for the next. */
  async listImages(opts: ListImagesOptions = {}): Promise<ListImagesResponse> {
    const q = new URLSearchParams();
    if (opts.status) q.set("status", enumToJson(ImageStatusSchema, opts.status) as string);
    if (opts.batchId) q.set("batchId", opts.batchId);
    if (opts.pageSize) q.set("pageSize", String(opts.pageSize));
    if (opts.pageToken) q.set("pageToken", opts.pageToken);
    const qs = q.toString();
    return this.unary(ListImagesResponseSchema, this.statusUrl, "GET", `/v1/images${qs ? `?${qs}` : ""}`, undefined, opts);
  }

  /** Every image matching the filters, following page tokens. */
  async *listAllImages(opts: Omit<ListImagesOptions, "pageToken"> = {}): AsyncGenerator<Image> {
    let pageToken = "";
    do {
      const page = await this.listImages({ ...opts, pageToken });
      yield* page.images;
      pageToken = page.nextPageToken;
    } while (pageToken);
  }

  /** GET /v1/images/{id}/analysis: indices and metrics of a COMPLETED image. */
  async getAnalysis(imageId: string, opts: CallOptions = {}): Promise<Analysis> {
    return this.unary(AnalysisSchema, this.statusUrl, "GET", `/v1/images/${seg(imageId)}/analysis`, undefined, opts);
  }

  /** GET /v1/queue:stats */
  async getQueueStats(opts: CallOptions = {}): Promise<GetQueueStatsResponse> {
    return this.unary(GetQueueStatsResponseSchema, this.statusUrl, "GET", "/v1/queue:stats", undefined, opts);
  }

  /**
   * GET /v1/images/{id}:watch: the image's current state first, then every
   * transition; the iteration ends after COMPLETED or FAILED. An unknown id
   * throws before anything is yielded; an error in the middle of the stream
   * (the server's `{"error": ...}` line) is thrown as CanopyError.
   */
  watchImage(imageId: string, opts: WatchOptions = {}): AsyncGenerator<WatchImageResponse> {
    const q = opts.afterSeq ? `?afterSeq=${opts.afterSeq}` : "";
    return this.serverStream(WatchImageResponseSchema, this.statusUrl, `/v1/images/${seg(imageId)}:watch${q}`, opts);
  }

  /** GET /v1/images:watch: every transition of all images, or of one batch. Never ends by itself: break or abort. */
  watchImages(opts: WatchOptions & { batchId?: string } = {}): AsyncGenerator<WatchImagesResponse> {
    const q = new URLSearchParams();
    if (opts.batchId) q.set("batchId", opts.batchId);
    if (opts.afterSeq) q.set("afterSeq", String(opts.afterSeq));
    const qs = q.toString();
    return this.serverStream(WatchImagesResponseSchema, this.statusUrl, `/v1/images:watch${qs ? `?${qs}` : ""}`, opts);
  }

  // ---- ingest-svc ----------------------------------------------------------

  /**
   * POST /v1/images:upload: one image or one capture, streamed as
   * newline-delimited JSON UploadImageRequest messages (the metadata, then
   * chunks with base64 data), never holding a whole file in memory.
   */
  async uploadImage(opts: UploadOptions): Promise<UploadImageResponse> {
    if (opts.files.length === 0) throw new Error("uploadImage: no files");
    const chunkSize = opts.chunkSize ?? defaultChunkSize;
    const metadata = create(UploadMetadataSchema, {
      ...opts.metadata,
      files: opts.files.map((f) => ({ filename: f.filename, contentType: f.contentType ?? "", bandRole: f.bandRole ?? 0 })),
    });
    const files = opts.files;
    const encoder = new TextEncoder();
    async function* lines(): AsyncGenerator<Uint8Array> {
      const line = (init: MessageInitShape<typeof UploadImageRequestSchema>) =>
        encoder.encode(toJsonString(UploadImageRequestSchema, create(UploadImageRequestSchema, init)) + "\n");
      yield line({ payload: { case: "metadata", value: metadata } });
      for (const [fileIndex, file] of files.entries()) {
        for await (const data of rechunk(file.data, chunkSize)) {
          yield line({ payload: { case: "chunk", value: { fileIndex, data } } });
        }
      }
    }
    const res = await this.fetchFn(`${this.ingestUrl}/v1/images:upload`, {
      method: "POST",
      headers: { ...this.headers, "Content-Type": "application/x-ndjson" },
      body: toStream(lines()),
      signal: opts.signal,
      // Required by fetch for a streamed request body.
      duplex: "half",
    } as RequestInit);
    return parse(UploadImageResponseSchema, res);
  }

  /** POST /v1/images/{id}:retry: a FAILED image goes back to the queue. */
  async retryImage(imageId: string, opts: CallOptions = {}): Promise<Image> {
    const body = toJsonString(RetryImageRequestSchema, create(RetryImageRequestSchema, { imageId }));
    return this.unary(ImageSchema, this.ingestUrl, "POST", `/v1/images/${seg(imageId)}:retry`, body, opts);
  }

  /** POST /v1/images/{id}:cancel: stop an unfinished image; it ends FAILED. */
  async cancelImage(imageId: string, reason = "", opts: CallOptions = {}): Promise<Image> {
    const body = toJsonString(CancelImageRequestSchema, create(CancelImageRequestSchema, { imageId, reason }));
    return this.unary(ImageSchema, this.ingestUrl, "POST", `/v1/images/${seg(imageId)}:cancel`, body, opts);
  }

  // ---- plumbing ------------------------------------------------------------

  private async unary<Desc extends DescMessage>(
    schema: Desc, base: string, method: string, path: string, body: string | undefined, opts: CallOptions,
  ): Promise<MessageShape<Desc>> {
    const headers: Record<string, string> = { ...this.headers, Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const res = await this.fetchFn(base + path, { method, headers, body, signal: opts.signal });
    return parse(schema, res);
  }

  private async *serverStream<Desc extends DescMessage>(
    schema: Desc, base: string, path: string, opts: CallOptions,
  ): AsyncGenerator<MessageShape<Desc>> {
    const res = await this.fetchFn(base + path, {
      headers: { ...this.headers, Accept: "application/json" },
      signal: opts.signal,
    });
    if (!res.ok) throw await errorOf(res);
    if (!res.body) return;
    for await (const line of readLines(res.body)) {
      const msg = JSON.parse(line) as { result?: JsonValue; error?: JsonValue };
      if (msg.error !== undefined && msg.error !== null) throw statusError(res.status, msg.error);
      if (msg.result !== undefined) yield fromJson(schema, msg.result, { ignoreUnknownFields: true });
    }
  }
}

function baseUrl(addr: string): string {
  const url = /^[a-z][a-z0-9+.-]*:\/\//i.test(addr) ? addr : `http://${addr}`;
  return url.replace(/\/+$/, "");
}

/** One path segment, escaped. */
function seg(s: string): string {
  if (s === "") throw new Error("empty id");
  return encodeURIComponent(s);
}

async function parse<Desc extends DescMessage>(schema: Desc, res: Response): Promise<MessageShape<Desc>> {
  if (!res.ok) throw await errorOf(res);
  const json = (await res.json()) as JsonValue;
  // Ignore fields a newer server added, as protojson clients do.
  return fromJson(schema, json, { ignoreUnknownFields: true });
}

async function errorOf(res: Response): Promise<CanopyError> {
  const text = await res.text().catch(() => "");
  try {
    return statusError(res.status, JSON.parse(text) as JsonValue);
  } catch {
    return new CanopyError(res.status, httpToCode(res.status), text.trim() || res.statusText);
  }
}

function statusError(httpStatus: number, json: JsonValue): CanopyError {
  if (json === null || typeof json !== "object" || Array.isArray(json)) throw new Error("not a status");
  const code = typeof json.code === "number" ? json.code : httpToCode(httpStatus);
  const message = typeof json.message === "string" ? json.message : "";
  const details = Array.isArray(json.details) ? json.details : [];
  return new CanopyError(httpStatus, code, message, details);
}

function httpToCode(status: number): number {
  switch (status) {
    case 400: return 3;
    case 401: return 16;
    case 403: return 7;
    case 404: return 5;
    case 409: return 10;
    case 429: return 8;
    case 501: return 12;
    case 503: return 14;
    case 504: return 4;
    default: return 2;
  }
}

/** Splits a byte stream into lines (newline-delimited JSON), skipping empty ones. */
async function* readLines(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  const reader = body.getReader();
  let buf = "";
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (line) yield line;
      }
    }
    buf += decoder.decode();
    if (buf.trim()) yield buf.trim();
  } finally {
    // Stops the download when the caller breaks out early.
    await reader.cancel().catch(() => {});
  }
}

/** Yields the data in pieces of at most size bytes. */
async function* rechunk(data: UploadData, size: number): AsyncGenerator<Uint8Array> {
  let source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
  if (data instanceof Uint8Array) source = [data];
  else if (typeof Blob !== "undefined" && data instanceof Blob) source = streamIter(data.stream());
  else if (typeof ReadableStream !== "undefined" && data instanceof ReadableStream) source = streamIter(data);
  else source = data as AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
  for await (const piece of source) {
    for (let off = 0; off < piece.length; off += size) yield piece.subarray(off, off + size);
  }
}

async function* streamIter(s: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  const reader = s.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    reader.releaseLock();
  }
}

function toStream(it: AsyncIterator<Uint8Array>): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await it.next();
        if (done) controller.close();
        else controller.enqueue(value);
      } catch (err) {
        controller.error(err);
      }
    },
    async cancel(reason) {
      await it.return?.(reason);
    },
  });
}
