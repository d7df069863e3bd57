// Calls a running Canopy through the TypeScript SDK's REST client.
//
//   CANOPY_INGEST_HTTP=127.0.0.1:8001 CANOPY_STATUS_HTTP=127.0.0.1:8002 CANOPY_API_KEY=cnp_... \
//   CANOPY_SAMPLE_FILE=field_rgn.tif CANOPY_SAMPLE_LAYOUT=RGN \
//   node --test dist/test/sdk.test.js
//
// scripts/sdk-ts.sh starts a private stack and runs it. The tests run in
// order and share the uploaded image.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { stat } from "node:fs/promises";
import { test } from "node:test";

import { CanopyClient, CanopyError, ImageStatus, type Image } from "../src/index.js";
import { fileData } from "../src/node.js";

function env(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set (see scripts/sdk-ts.sh)`);
  return v;
}

const client = new CanopyClient({
  ingestUrl: env("CANOPY_INGEST_HTTP"),
  statusUrl: env("CANOPY_STATUS_HTTP"),
  apiKey: env("CANOPY_API_KEY"),
});
const sampleFile = env("CANOPY_SAMPLE_FILE");
const layout = process.env.CANOPY_SAMPLE_LAYOUT ?? "";
const batchId = `sdk-ts-${randomUUID()}`;
const timeoutMs = Number(process.env.CANOPY_WATCH_TIMEOUT_MS ?? 90_000);

let imageId = "";
function uploaded(): string {
  assert.ok(imageId, "the upload test did not pass");
  return imageId;
}

test("uploadImage streams the file over REST as newline-delimited JSON", async () => {
  const size = (await stat(sampleFile)).size;
  // Small chunks so the upload really is several chunk messages.
  const res = await client.uploadImage({
    files: [fileData(sampleFile)],
    metadata: { batchId, bandLayout: layout },
    chunkSize: 64 * 1024,
  });
  assert.match(res.imageId, /\S/);
  assert.equal(res.duplicate, false);
  // int64 arrives as a JSON string and becomes a bigint through fromJson.
  assert.equal(typeof res.sizeBytes, "bigint");
  assert.equal(res.sizeBytes, BigInt(size));
  assert.match(res.sha256, /^[0-9a-f]{64}$/);
  assert.ok(
    res.status === ImageStatus.UPLOADED || res.status === ImageStatus.PROCESSING || res.status === ImageStatus.COMPLETED,
    `status after upload: ${ImageStatus[res.status]}`,
  );
  imageId = res.imageId;
});

test("getImage returns the uploaded image", async () => {
  const img = await client.getImage(uploaded());
  assert.equal(img.id, imageId);
  assert.equal(img.batchId, batchId);
  assert.equal(img.files.length, 1);
  assert.equal(img.files[0]?.sizeBytes, BigInt((await stat(sampleFile)).size));
  assert.ok(img.uploadedAt, "uploadedAt is set");
});

test("watchImage streams newline-delimited JSON until COMPLETED", async () => {
  const seen: ImageStatus[] = [];
  let last: Image | undefined;
  let lastSeq = 0n;
  for await (const msg of client.watchImage(uploaded(), { signal: AbortSignal.timeout(timeoutMs) })) {
    assert.ok(msg.image, "every message carries the image");
    assert.equal(msg.image.id, imageId);
    seen.push(msg.image.status);
    last = msg.image;
    if (msg.event) {
      assert.ok(msg.event.seq > lastSeq, "event sequence numbers grow");
      lastSeq = msg.event.seq;
    }
  }
  // The stream ended by itself, after a terminal state.
  assert.ok(last, "at least one message");
  assert.equal(ImageStatus[last.status], "COMPLETED", `statuses seen: ${seen.map((s) => ImageStatus[s]).join(" -> ")}; last error: ${last.lastError}`);
  assert.ok(last.processedAt, "processedAt is set");
});

test("watchImage with afterSeq replays the transitions from the event log", async () => {
  // Sequence numbers are global; 1 is at or before this image's first event
  // (with a fresh database, its UPLOADED event is seq 1 and is skipped).
  const events = [];
  for await (const msg of client.watchImage(uploaded(), { afterSeq: 1n, signal: AbortSignal.timeout(timeoutMs) })) {
    assert.ok(msg.event, "a replayed message carries its event");
    assert.equal(msg.event.imageId, imageId);
    assert.equal(typeof msg.event.seq, "bigint");
    events.push(msg.event);
  }
  const statuses = events.map((e) => ImageStatus[e.status]);
  assert.ok(statuses.includes("PROCESSING"), `replayed: ${statuses.join(" -> ")}`);
  assert.equal(statuses.at(-1), "COMPLETED", `replayed: ${statuses.join(" -> ")}`);
  for (let i = 1; i < events.length; i++) assert.ok(events[i]!.seq > events[i - 1]!.seq, "seq grows");
});

test("getAnalysis has NDVI or VARI with a mean in [-1, 1]", async () => {
  const analysis = await client.getAnalysis(uploaded());
  assert.equal(analysis.imageId, imageId);
  assert.ok(analysis.width > 0 && analysis.height > 0);
  const index = analysis.indices.find((i) => i.available && (i.name === "NDVI" || i.name === "VARI"));
  assert.ok(index, `available indices: ${analysis.indices.filter((i) => i.available).map((i) => i.name).join(", ")}`);
  assert.ok(index.mean >= -1 && index.mean <= 1, `${index.name} mean ${index.mean}`);
  assert.equal(typeof index.validPixels, "bigint");
  assert.ok(index.validPixels > 0n);
});

test("listImages finds it by batch and by status", async () => {
  const page = await client.listImages({ batchId });
  assert.deepEqual(page.images.map((i) => i.id), [imageId]);
  let found = false;
  for await (const img of client.listAllImages({ status: ImageStatus.COMPLETED, pageSize: 50 })) {
    assert.equal(img.status, ImageStatus.COMPLETED);
    if (img.id === imageId) found = true;
  }
  assert.ok(found, "listed among COMPLETED images");
});

test("a call without a key is 401 UNAUTHENTICATED", async () => {
  const anonymous = new CanopyClient({ ingestUrl: env("CANOPY_INGEST_HTTP"), statusUrl: env("CANOPY_STATUS_HTTP") });
  await assert.rejects(anonymous.getImage(uploaded()), (err: unknown) => {
    assert.ok(err instanceof CanopyError, String(err));
    assert.equal(err.httpStatus, 401);
    assert.equal(err.codeName, "UNAUTHENTICATED");
    return true;
  });
});

test("an unknown id is 404 NOT_FOUND", async () => {
  const unknown = randomUUID();
  await assert.rejects(client.getImage(unknown), (err: unknown) => {
    assert.ok(err instanceof CanopyError, String(err));
    assert.equal(err.httpStatus, 404);
    assert.equal(err.codeName, "NOT_FOUND");
    return true;
  });
  await assert.rejects(client.getAnalysis(unknown), (err: unknown) => err instanceof CanopyError && err.httpStatus === 404);
  // A watch of an unknown id fails before any message.
  const messages: unknown[] = [];
  await assert.rejects(
    (async () => {
      for await (const m of client.watchImage(unknown, { signal: AbortSignal.timeout(10_000) })) messages.push(m);
    })(),
    (err: unknown) => err instanceof CanopyError && err.httpStatus === 404 && err.codeName === "NOT_FOUND",
  );
  assert.equal(messages.length, 0);
});
