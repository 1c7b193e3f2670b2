import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";

/** A file's SHA-256, read as a stream: dumps and uploads can be larger than memory. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}
