/**
 * An environment's topology as a Mermaid flowchart, which GitLab renders in
 * markdown: each network is a group, each container sits in the group of its
 * first network (a store: its own network; a service: the internal one),
 * Traefik sits in the edge network with an arrow per route, and an arrow goes
 * from each container to every store and peer it depends on. A service's other
 * networks are those of the stores it depends on, plus the edge when routed,
 * so the arrows show them. The backup container sits in its own network, with
 * an arrow to each store whose network it joins.
 * Syntax: https://mermaid.js.org/syntax/flowchart.html
 */
import type { ContainerPlan } from "../../model/container";
import type { EnvironmentPlan } from "../../model/environment";
import { allContainers, displayName } from "./describe";

/** Mermaid node ids: letters, digits and underscores only. */
const id = (prefix: string, name: string) => `${prefix}_${name.replace(/[^A-Za-z0-9]/g, "_")}`;
const containerId = (c: ContainerPlan) => id("c", c.containerName);
const TRAEFIK = "traefik";

export function renderMermaid(plan: EnvironmentPlan): string {
  const lines = ["flowchart LR"];
  const byAlias = new Map(plan.containers.flatMap((c) => c.networks.flatMap((n) => n.aliases.map((a) => [a, c] as const))));

  // The backup container's first networks are the stores' it reads; its home is its own.
  const home = (c: ContainerPlan) => (c.kind === "backup" ? "backup" : c.networks[0]?.key);
  for (const network of plan.networks) {
    const members = allContainers(plan).filter((c) => home(c) === network.key);
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
  for (const network of plan.backup?.networks ?? []) {
    for (const store of plan.containers.filter((c) => c.kind === "store" && home(c) === network.key)) {
      lines.push(`  ${containerId(plan.backup!)} -.-> ${containerId(store)}`);
    }
  }
  return lines.join("\n");
}

/** The diagram as a fenced block, as markdown embeds it. */
export const mermaidBlock = (plan: EnvironmentPlan) => ["```mermaid", renderMermaid(plan), "```"].join("\n");
