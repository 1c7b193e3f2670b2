/**
 * `npm run docs`: rewrites every generated block of README.md and docs/*.md,
 * `<!-- generated:NAME -->…<!-- /generated:NAME -->`, from the code it restates
 * (catalog tables, configuration reference, topology diagrams). A test fails while any block is
 * stale, so the docs cannot drift from the code.
 *
 * The merge-request summary reads a block back too: which stacks' topology a
 * merge request changes is this commit's diagram of each stack against the one
 * the target branch's docs/plan.md holds (fresh there, by that test), so CI
 * needs no second checkout, install or Pulumi run.
 */
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { renderCatalogTables } from "./catalog-docs";
import { renderConfigReference, renderSecretsTable } from "./config-docs";
import { planFromStackFiles, PlanError } from "./plan";
import { mermaidBlock } from "./plan/mermaid";
import { PROJECT_DIR } from "./run-cli";

/** The stacks whose topology docs/plan.md draws; the MR summary compares against them. */
export const DIAGRAM_STACKS = ["qual", "prod"];

/** The name of the generated block that holds a stack's diagram (docs/plan.md). */
export const topologyBlockName = (stack: string) => `topology-${stack}`;

/** Every generated block by name; each is rendered only when asked for. */
export function generators(): Record<string, () => string> {
  return {
    ...Object.fromEntries(Object.entries(renderCatalogTables()).map(([name, table]) => [name, () => table])),
    config: () => renderConfigReference(),
    secrets: renderSecretsTable,
    // The topology does not depend on which build runs: drawn from an empty manifest, as plan shows an unpinned one.
    ...Object.fromEntries(DIAGRAM_STACKS.map((stack) => [topologyBlockName(stack), () => mermaidBlock(planFromStackFiles(PROJECT_DIR, stack, { release: {} }).plan)])),
  };
}

const BLOCK = /<!-- generated:([\w-]+) -->\n?([\s\S]*?)\n?<!-- \/generated:\1 -->/g;

export const blockNames = (markdown: string): string[] => [...markdown.matchAll(BLOCK)].map((m) => m[1]);

/** The document with every generated block re-rendered; a block no generator knows is an error. */
export function renderGeneratedBlocks(markdown: string, render = generators()): string {
  return markdown.replace(BLOCK, (_whole, name: string) => {
    if (!render[name]) throw new Error(`unknown generated block "${name}"; known: ${Object.keys(render).join(", ")}`);
    return `<!-- generated:${name} -->\n${render[name]().trimEnd()}\n<!-- /generated:${name} -->`;
  });
}

/** The content of a generated block in a markdown document, or undefined if it has none. */
export const generatedBlock = (markdown: string, name: string): string | undefined =>
  [...markdown.matchAll(BLOCK)].find((m) => m[1] === name)?.[2].trimEnd();

export interface TopologyChange {
  stack: string;
  /** The stack's diagram as this commit draws it, a fenced mermaid block. */
  diagram: string;
}

/** Stacks whose diagram differs from (or is missing in) `targetPlanDoc`; a stack that does not plan is left to its preview to report. */
export function changedTopologies(stacks: string[], projectDir: string, targetPlanDoc: string): TopologyChange[] {
  return stacks.flatMap((stack) => {
    let diagram: string;
    try {
      diagram = mermaidBlock(planFromStackFiles(projectDir, stack).plan);
    } catch (error) {
      if (error instanceof PlanError) return [];
      throw error;
    }
    return generatedBlock(targetPlanDoc, topologyBlockName(stack)) === diagram ? [] : [{ stack, diagram }];
  });
}

/** README.md and every markdown file under docs/. */
export function documentFiles(root = PROJECT_DIR): string[] {
  const docs = readdirSync(join(root, "docs"))
    .filter((f) => f.endsWith(".md"))
    .sort()
    .map((f) => join(root, "docs", f));
  return [join(root, "README.md"), ...docs];
}

if (require.main === module) {
  const render = generators();
  for (const file of documentFiles()) {
    const before = readFileSync(file, "utf8");
    const after = renderGeneratedBlocks(before, render);
    if (after !== before) {
      writeFileSync(file, after);
      console.log(`${relative(PROJECT_DIR, file)}: regenerated ${blockNames(after).join(", ")}`);
    }
  }
}
