/**
 * Strapi's uploads: restic stores the volume's files at their own path; the
 * backup also stages a listing of them (relative path, SHA-256, size, sorted by
 * path) and the manifest records the count, the total size and a digest over
 * the sorted paths and their SHA-256, so the drill can prove the files came
 * back and name the first one that did not. Files are hashed as streams: an
 * upload can be larger than the backup container's memory.
 */
import { createHash } from "node:crypto";
import { readdir, readFile, stat, mkdir, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { sha256File } from "./hash";

export interface UploadsManifest {
  /** Where the volume was read, and so where restic restores its files (under the restore target). */
  path: string;
  files: number;
  bytes: number;
  /** SHA-256 over every file's relative path and SHA-256, in path order (`uploadsDigest`). Absent in backups older than it. */
  digest?: string;
  /** The staged listing (JSON lines of `UploadEntry`), by path in the snapshot. */
  listing?: string;
}

export interface UploadEntry {
  path: string;
  sha256: string;
  bytes: number;
}

export const UPLOADS_LISTING = "uploads/listing.jsonl";

const byPath = (a: { path: string }, b: { path: string }) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);

/** Every regular file under `dir`, hashed one at a time, sorted by relative path. */
export async function listUploads(dir: string): Promise<UploadEntry[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  const out: UploadEntry[] = [];
  for (const e of entries.filter((x) => x.isFile())) {
    const file = join(e.parentPath, e.name);
    out.push({ path: relative(dir, file), sha256: await sha256File(file), bytes: (await stat(file)).size });
  }
  return out.sort(byPath);
}

/** NUL after the path: no path contains one, so no two listings hash alike by shifting text between path and hash. */
export function uploadsDigest(entries: UploadEntry[]): string {
  const hash = createHash("sha256");
  for (const e of [...entries].sort(byPath)) hash.update(`${e.path}\0${e.sha256}\n`);
  return hash.digest("hex");
}

export function summarise(path: string, entries: UploadEntry[]): Omit<UploadsManifest, "listing"> {
  return { path, files: entries.length, bytes: entries.reduce((n, e) => n + e.bytes, 0), digest: uploadsDigest(entries) };
}

/** Lists `uploadsDir`, stages the listing under `stage`, and returns the manifest's part. */
export async function backupUploads(uploadsDir: string, stage: string): Promise<UploadsManifest> {
  const entries = await listUploads(uploadsDir);
  await mkdir(join(stage, "uploads"), { recursive: true });
  await writeFile(join(stage, UPLOADS_LISTING), entries.map((e) => `${JSON.stringify(e)}\n`).join(""));
  return { ...summarise(uploadsDir, entries), listing: UPLOADS_LISTING };
}

/** The first path at which two sorted listings part: missing, extra, or different content. */
export function firstDifference(expected: UploadEntry[], found: UploadEntry[]): string | undefined {
  const want = [...expected].sort(byPath);
  const got = [...found].sort(byPath);
  for (let i = 0, j = 0; i < want.length || j < got.length; ) {
    const w = want[i];
    const g = got[j];
    if (w && (!g || w.path < g.path)) return `${w.path}: missing after restore`;
    if (g && (!w || g.path < w.path)) return `${g.path}: restored but not in the backup`;
    if (w.sha256 !== g.sha256) return `${w.path}: content differs from the backup (SHA-256)`;
    i++;
    j++;
  }
  return undefined;
}

/**
 * The uploads restored under `restoredDir` against the manifest: count, bytes
 * and digest; on a digest mismatch the staged listing (in `snapshotDir`) names
 * the first differing path.
 */
export async function checkUploads(uploads: UploadsManifest, snapshotDir: string, restoredDir: string): Promise<string[]> {
  const found = await listUploads(restoredDir).catch(() => [] as UploadEntry[]);
  const got = summarise(uploads.path, found);
  const problems: string[] = [];
  if (got.files !== uploads.files) problems.push(`uploads: ${got.files} files restored, manifest says ${uploads.files}`);
  if (got.bytes !== uploads.bytes) problems.push(`uploads: ${got.bytes} bytes restored, manifest says ${uploads.bytes}`);
  if (uploads.digest && got.digest !== uploads.digest) {
    const listing = uploads.listing
      ? (await readFile(join(snapshotDir, uploads.listing), "utf8").catch(() => ""))
          .split("\n")
          .filter(Boolean)
          .map((l) => JSON.parse(l) as UploadEntry)
      : undefined;
    const first = listing && firstDifference(listing, found);
    problems.push(`uploads: digest differs from the manifest${first ? `; first difference: ${first}` : ""}`);
  }
  return problems;
}
