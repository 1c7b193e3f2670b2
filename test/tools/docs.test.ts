import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { blockNames, documentFiles, generators, renderGeneratedBlocks } from "../../tools/docs";

const documents = documentFiles().map((file) => ({ file, text: readFileSync(file, "utf8") }));

test.each(documents.map((d) => [basename(d.file), d.text]))(
  "%s: every generated block is what the code renders today (run `npm run docs` after changing the catalog or the config schema)",
  (_name, text) => {
    expect(renderGeneratedBlocks(text)).toBe(text);
  },
);

test("every generated block appears in exactly one document, so none is silently dropped or duplicated", () => {
  const placed = documents.flatMap((d) => blockNames(d.text));
  expect([...placed].sort()).toEqual(Object.keys(generators()).sort());
});

test("a document naming a block no generator knows is refused rather than left as it is", () => {
  expect(() => renderGeneratedBlocks("<!-- generated:nope -->\nx\n<!-- /generated:nope -->")).toThrow(/unknown generated block "nope"/);
});

test("a stale block is rewritten and the text around it kept", () => {
  const render = { table: () => "| fresh |" };
  expect(renderGeneratedBlocks("before\n<!-- generated:table -->\n| stale |\n<!-- /generated:table -->\nafter", render)).toBe(
    "before\n<!-- generated:table -->\n| fresh |\n<!-- /generated:table -->\nafter",
  );
});

/** GitLab's heading anchors: lowercase, punctuation dropped, spaces to hyphens, hyphen runs collapsed. */
const anchorOf = (heading: string) =>
  heading
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .trim()
    .replace(/\s+/g, "-")
    .replace(/-{2,}/g, "-");

const anchorsIn = (text: string) => new Set([...text.matchAll(/^#{1,6} (.+)$/gm)].map((m) => anchorOf(m[1])));

test.each(documents.map((d) => [basename(d.file), d.file, d.text]))("%s: every relative link points to a file and heading that exist", (_name, file, text) => {
  const { existsSync } = jest.requireActual<typeof import("node:fs")>("node:fs");
  const { dirname, resolve } = jest.requireActual<typeof import("node:path")>("node:path");
  const links = [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]).filter((l) => !/^[a-z]+:/i.test(l));
  for (const link of links) {
    const [path, anchor] = link.split("#");
    const target = path ? resolve(dirname(file), path) : file;
    expect(existsSync(target) ? target : `missing: ${link}`).toBe(target);
    if (anchor && target.endsWith(".md")) expect(anchorsIn(readFileSync(target, "utf8"))).toContain(anchor);
  }
});
