/** A host snapshot that matches a stack's outputs exactly, for checks to be broken one fault at a time. */
import { LABELS, PROJECT } from "../../../model/naming";
import { runProgram } from "../../harness/program";
import { parseOutputs, type StackOutputs } from "../../../tools/verify/outputs";
import type { ContainerView, HostSnapshot } from "../../../tools/verify/snapshot";

export async function programOutputs(stack: string, config: Record<string, unknown> = {}): Promise<StackOutputs> {
  return parseOutputs((await runProgram({ stack, config })).outputs, `${stack} program`);
}

let nextIp = 2;
export const container = (over: Partial<ContainerView> & { name: string }): ContainerView => ({
  id: `id-${over.name}`,
  image: "img",
  imageId: `sha256:${"0".repeat(64)}`,
  repoDigests: [],
  labels: {},
  state: "running",
  networks: {},
  ...over,
});

export function healthyHost(...all: StackOutputs[]): HostSnapshot {
  const containers: ContainerView[] = [];
  for (const o of all) {
    for (const [service, t] of Object.entries(o.topology)) {
      containers.push(
        container({
          name: o.containers[service],
          labels: {
            [LABELS.project]: PROJECT,
            [LABELS.environment]: o.environment,
            [LABELS.service]: service,
            [LABELS.role]: t.role,
            [LABELS.port]: String(t.port),
            "traefik.enable": t.router ? "true" : "false",
            ...(t.router ? { [`traefik.http.routers.${t.router}.rule`]: `Host(\`${t.host}\`)` } : {}),
          },
          health: "healthy",
          // An app service runs the image its release pins, as pulled: its RepoDigests hold the pin.
          ...(o.images[service] ? { imageId: `sha256:id-of-${service}`, repoDigests: [o.images[service].image] } : {}),
          networks: Object.fromEntries(t.networks.map((n) => [n, { ip: `10.0.${nextIp % 250}.${nextIp++ % 250}`, aliases: [] }])),
        }),
      );
    }
  }
  const edgeNetworks = all.filter((o) => o.edge.mode === "isolated").map((o) => o.edge.network);
  const traefikNetwork = all[0].edge.traefikNetwork;
  containers.push(container({ name: all[0].edge.traefikContainer, networks: Object.fromEntries([traefikNetwork, ...edgeNetworks].map((n) => [n, { ip: "10.9.0.2", aliases: [] }])) }));
  for (const n of all[0].neighbours) containers.push(container({ name: n, networks: { [traefikNetwork]: { ip: "10.9.0.3", aliases: [] } } }));
  const networkNames = new Set([traefikNetwork, ...all.flatMap((o) => Object.values(o.networks))]);
  return {
    containers,
    networks: [...networkNames].map((name) => ({
      id: `net-${name}`,
      name,
      internal: false,
      subnets: all.flatMap((o) => (o.edge.network === name && o.edge.subnet ? [o.edge.subnet] : [])),
      containers: containers.filter((c) => name in c.networks).map((c) => c.name),
    })),
    volumes: all.flatMap((o) => Object.values(o.volumes).map((name) => ({ name }))),
  };
}
