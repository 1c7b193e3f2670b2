/** The e2e's refusal to run on a daemon that hosts a real deployment, without a daemon. */
import type Docker from "dockerode";
import { LABELS, PROJECT } from "../../model/naming";
import { RUN_LABEL } from "./applier";
import { assertNotADeploymentHost } from "./host";

type Labels = Record<string, string>;
const daemon = (host: { containers?: [string, Labels][]; networks?: [string, Labels][]; volumes?: [string, Labels][] }) =>
  ({
    listContainers: async () => (host.containers ?? []).map(([name, Labels]) => ({ Names: [`/${name}`], Labels })),
    listNetworks: async () => (host.networks ?? []).map(([Name, Labels]) => ({ Name, Labels })),
    listVolumes: async () => ({ Volumes: (host.volumes ?? []).map(([Name, Labels]) => ({ Name, Labels })) }),
  }) as unknown as Docker;

const ours = { [LABELS.project]: PROJECT, [LABELS.environment]: "prod" };
const e2e = { ...ours, [RUN_LABEL]: "e2e-1-x" };

test("runs on an empty daemon, or one holding only e2e objects and unrelated ones", async () => {
  await expect(assertNotADeploymentHost(daemon({}))).resolves.toBeUndefined();
  const busy = daemon({ containers: [["po-postgres-prod", e2e], ["traefik", { [RUN_LABEL]: "e2e-1-x" }], ["someone-else", {}]], volumes: [["postgres-data-prod", e2e]] });
  await expect(assertNotADeploymentHost(busy)).resolves.toBeUndefined();
});

test.each([
  ["a container of a real environment", { containers: [["po-postgres-prod", ours]] as [string, Labels][] }, "container po-postgres-prod"],
  ["a real environment's volume", { volumes: [["postgres-data-prod", ours]] as [string, Labels][] }, "volume postgres-data-prod"],
  ["a real environment's network", { networks: [["po-internal-prod", ours]] as [string, Labels][] }, "network po-internal-prod"],
  ["the real Traefik", { containers: [["traefik", {}]] as [string, Labels][] }, "container traefik"],
  ["the real webapp", { containers: [["x100f-webapp", {}]] as [string, Labels][] }, "container x100f-webapp"],
])("refuses a daemon holding %s, naming it", async (_what, host, named) => {
  await expect(assertNotADeploymentHost(daemon(host))).rejects.toThrow(new RegExp(`hosts a real deployment \\(${named}\\)`));
});
