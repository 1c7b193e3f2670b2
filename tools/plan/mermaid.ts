/**
 * An environment's topology as a Mermaid flowchart, which GitLab renders in
 * markdown: each network is a group, each container sits in the group of its
 * first network (a store: its own network; a service: the internal one),
 * Traefik sits in the edge network with an arrow per route, and an arrow goes
 * from each container to every store and peer it depends on. A service's other
 * networks are those of the stores it depends on, plus the edge when routed,
 * so the arrows show them.
 * Syntax: https://mermaid.js.org/syntax/flowchart.html
 */
import type { ContainerPlan } from "../../model/container";
import type { EnvironmentPlan } from "../../model/environment";
import { displayName } from "./describe";

/** Mermaid node ids: letters, digits and underscores only. */
const id = (prefix: string, name: string) => `${prefix}_${name.replace(/[^A-Za-z0-9]/g, "_")}`;
const containerId = (c: ContainerPlan) => id("c", c.containerName);
const TRAEFIK = "traefik";

export function renderMermaid(plan: EnvironmentPlan): string {
  const lines = ["flowchart LR"];
  const byAlias = new Map(plan.containers.flatMap((c) => c.networks.flatMap((n) => n.aliases.map((a) => [a, c] as const))));

  for (const network of plan.networks) {
    const members = plan.containers.filter((c) => c.networks[0]?.key === network.key);
    const traits = [network.internal ? "internal" : undefined, network.managed ? undefined : "external"].filter(Boolean);
    lines.push(`  subgraph ${id("net", network.name)}["${network.name}${traits.length ? ` (${traits.join(", ")})` : ""}"]`);
    if (network.key === "edge") lines.push(`    ${TRAEFIK}(["Traefik: ${plan.edge.traefikContainer}"])`);
    for (const c of members) {
      // Names only: a diagram that changed with every memory tweak would report a topology change for it.
      lines.push(c.kind === "store" ? `    ${containerId(c)}[("${displayName(c)}")]` : `    ${containerId(c)}["${displayName(c)}"]`);
    }
    lines.push("  end");
  }

  for (const c of plan.containers.filter((c) => c.route)) {
    lines.push(`  ${TRAEFIK} -->|"${c.route!.host}"| ${containerId(c)}`);
  }
  for (const c of plan.containers) {
    for (const dependency of c.dependencies) {
      const target = byAlias.get(dependency.slice(0, dependency.lastIndexOf(":")));
      if (!target) throw new Error(`${c.containerName} depends on ${dependency}, which no container of the plan answers to`);
      lines.push(`  ${containerId(c)} -.-> ${containerId(target)}`);
    }
  }
  return lines.join("\n");
}

/** The diagram as a fenced block, as markdown embeds it. */
export const mermaidBlock = (plan: EnvironmentPlan) => ["```mermaid", renderMermaid(plan), "```"].join("\n");

/** The name of the generated docs block that holds a stack's diagram (docs/plan.md). */
export const topologyBlockName = (stack: string) => `topology-${stack}`;

/** The content of a generated block in a markdown document, or undefined if it has none. */
export function generatedBlock(markdown: string, name: string): string | undefined {
  const m = new RegExp(`<!-- generated:${name} -->\\n([\\s\\S]*?)\\n?<!-- /generated:${name} -->`).exec(markdown);
  return m?.[1].trimEnd();
}

export interface TopologyChange {
  stack: string;
  /** The stack's diagram as this commit draws it, a fenced mermaid block. */
  diagram: string;
}
