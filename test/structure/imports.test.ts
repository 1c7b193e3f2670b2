/**
 * The import graph of the project's own modules, read with the TypeScript
 * compiler's own parser and module resolution (type-only imports count: they
 * tie the modules' meaning together just the same).
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import ts from "typescript";

const ROOT = join(__dirname, "..", "..");

/** Module (path relative to `root`) → the project modules it imports. */
function importGraph(root: string): Map<string, string[]> {
  const configPath = join(root, "tsconfig.json");
  const { config } = ts.readConfigFile(configPath, ts.sys.readFile);
  const { options, fileNames } = ts.parseJsonConfigFileContent(config, ts.sys, root);
  const graph = new Map<string, string[]>();
  for (const file of fileNames) {
    const imports = ts.preProcessFile(readFileSync(file, "utf8"), true, true).importedFiles.flatMap(({ fileName }) => {
      const resolved = ts.resolveModuleName(fileName, file, options, ts.sys).resolvedModule;
      return resolved && !resolved.isExternalLibraryImport ? [relative(root, resolved.resolvedFileName)] : [];
    });
    graph.set(relative(root, file), [...new Set(imports)]);
  }
  return graph;
}

/** Every set of modules that import one another round in a loop (Tarjan's strongly connected components). */
function importLoops(graph: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const loops: string[][] = [];
  const visit = (node: string) => {
    index.set(node, index.size);
    low.set(node, index.get(node)!);
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      if (!index.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (stack.includes(next)) {
        low.set(node, Math.min(low.get(node)!, index.get(next)!));
      }
    }
    if (low.get(node) !== index.get(node)) return;
    const component: string[] = [];
    let member: string;
    do component.push((member = stack.pop()!));
    while (member !== node);
    if (component.length > 1 || graph.get(node)?.includes(node)) loops.push(component.sort());
  };
  for (const node of graph.keys()) if (!index.has(node)) visit(node);
  return loops;
}

const graph = importGraph(ROOT);
const edges = [...graph].flatMap(([from, tos]) => tos.map((to) => ({ from, to })));
const inDir = (dir: string) => (path: string) => path.startsWith(`${dir}/`);

test("reads the project's modules and their imports", () => {
  expect(graph.get("program.ts")).toEqual(expect.arrayContaining(["config/load.ts", "model/environment.ts"]));
  expect(graph.get("model/environment.ts")).toEqual(expect.arrayContaining(["catalog/services.ts", "model/naming.ts"]));
});

test("no module imports itself back through others", () => {
  expect(importLoops(graph)).toEqual([]);
});

test("the model never imports config/: config hands the model its settings, not the other way round", () => {
  expect(edges.filter((e) => inDir("model")(e.from) && inDir("config")(e.to))).toEqual([]);
});

test("the catalog is plain data: it imports nothing outside catalog/", () => {
  expect(edges.filter((e) => inDir("catalog")(e.from) && !inDir("catalog")(e.to))).toEqual([]);
});

test("the program, tools and CLIs never import the test suite", () => {
  expect(edges.filter((e) => !inDir("test")(e.from) && inDir("test")(e.to))).toEqual([]);
});

test("finds a loop through a type-only import, and names its modules", () => {
  const dir = mkdtempSync(join(tmpdir(), "po-imports-"));
  writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({ compilerOptions: { module: "commonjs", moduleResolution: "node10", ignoreDeprecations: "6.0" }, include: ["*.ts"] }));
  writeFileSync(join(dir, "a.ts"), 'import type { B } from "./b";\nexport type A = { b?: B };\n');
  writeFileSync(join(dir, "b.ts"), 'import { c } from "./c";\nexport type B = { c: typeof c };\n');
  writeFileSync(join(dir, "c.ts"), 'export { type A } from "./a";\nexport const c = 1;\n');
  writeFileSync(join(dir, "d.ts"), 'import { c } from "./c";\nexport const d = c;\n');
  expect(importLoops(importGraph(dir))).toEqual([["a.ts", "b.ts", "c.ts"]]);
});
