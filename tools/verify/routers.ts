/**
 * Traefik routers declared by container labels, anywhere on the host. Two
 * containers must never declare the same router name or the same Host rule,
 * unless they are two revisions of one service of one environment (a rollout
 * briefly runs both: one router, or, when the route changed, two routers named
 * after their definitions, for one Host). Whether a shared name is defined
 * alike is the other check's business (model/traefik.ts conflictingDefinitions).
 */
import { LABELS } from "../../model/naming";
import type { ContainerView } from "./snapshot";

const ROUTER_LABEL = /^traefik\.(http|tcp|udp)\.routers\.([^.]+)\.(.+)$/;
const HOST_MATCHER = /\bHost(?:SNI)?\(([^)]*)\)/g;
const QUOTED = /[`"']([^`"']+)[`"']/g;

interface Declaration {
  /** `http/public-fo-qual` or `host:qual.portugalodyssey.pt` or `rule:<rule>`. */
  key: string;
  container: ContainerView;
  /** Who may share a key: one service of one environment of this project, or the container itself. */
  owner: string;
}

export interface Conflict {
  kind: "router" | "host";
  key: string;
  containers: { name: string; owner: string; state: string }[];
}

function ownerOf(c: ContainerView): string {
  const project = c.labels[LABELS.project];
  if (!project) return `container ${c.name}`;
  return `${project}/${c.labels[LABELS.environment] ?? "?"}/${c.labels[LABELS.service] ?? "?"}`;
}

/**
 * The keys a rule claims: each host of a rule made only of Host matchers
 * (joined by ||), or the whole rule when it also matches on something else
 * (a path prefix, a header), since then the same host may be shared on purpose.
 */
export function ruleKeys(rule: string): string[] {
  const hosts = [...rule.matchAll(HOST_MATCHER)].flatMap((m) => [...m[1].matchAll(QUOTED)].map((q) => q[1].toLowerCase()));
  const rest = rule.replace(HOST_MATCHER, "").replace(/\|\||[()\s]/g, "");
  if (hosts.length > 0 && rest === "") return [...new Set(hosts)].map((h) => `host:${h}`);
  return [`rule:${rule.replace(/\s+/g, " ").trim()}`];
}

function declarations(containers: ContainerView[]): Declaration[] {
  const out: Declaration[] = [];
  for (const c of containers) {
    if (c.labels["traefik.enable"] === "false") continue;
    const owner = ownerOf(c);
    const routers = new Set<string>();
    for (const [label, value] of Object.entries(c.labels)) {
      const m = ROUTER_LABEL.exec(label);
      if (!m) continue;
      routers.add(`${m[1]}/${m[2]}`);
      if (m[3] === "rule") for (const key of ruleKeys(value)) out.push({ key, container: c, owner });
    }
    for (const key of routers) out.push({ key, container: c, owner });
  }
  return out;
}

export function findConflicts(containers: ContainerView[]): Conflict[] {
  const byKey = new Map<string, Declaration[]>();
  for (const d of declarations(containers)) byKey.set(d.key, [...(byKey.get(d.key) ?? []), d]);
  const conflicts: Conflict[] = [];
  for (const [key, decls] of [...byKey].sort(([a], [b]) => a.localeCompare(b))) {
    if (new Set(decls.map((d) => d.owner)).size < 2) continue;
    const seen = new Set<string>();
    conflicts.push({
      kind: key.startsWith("host:") || key.startsWith("rule:") ? "host" : "router",
      key: key.replace(/^(host|rule):/, ""),
      containers: decls
        .filter((d) => !seen.has(d.container.id) && seen.add(d.container.id))
        .map((d) => ({ name: d.container.name, owner: d.owner, state: d.container.state })),
    });
  }
  return conflicts;
}
