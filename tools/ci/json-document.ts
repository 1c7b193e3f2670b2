/** Parses a JSON document that must be an object, naming its source and what it should be when it is not. */
export function parseJsonObject(text: string, source: string, what: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (error) {
    throw new Error(`${source} is not JSON (${(error as Error).message})`, { cause: error });
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw new Error(`${source} is not ${what}`);
  return doc as Record<string, unknown>;
}
