// Node-only helpers, kept out of the main entry so the client also runs in
// browsers: import { fileData } from "@canopyag/canopy-sdk/node".
import { createReadStream } from "node:fs";
import { basename } from "node:path";
import type { UploadFile } from "./client.js";

/** An UploadFile that streams path from disk, named after its base name. */
export function fileData(path: string, extra: Omit<UploadFile, "data" | "filename"> & { filename?: string } = {}): UploadFile {
  return {
    ...extra,
    filename: extra.filename ?? basename(path),
    data: createReadStream(path, { highWaterMark: 256 * 1024 }) as AsyncIterable<Uint8Array>,
  };
}
