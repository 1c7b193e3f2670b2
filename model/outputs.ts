/**
 * The stack outputs: the contract between the program (components/environment.ts
 * exports them), `verify` and the CI jobs that read them. Documented in docs/catalog.md (Outputs).
 * Nothing in them is secret.
 */
import { z } from "zod";

const name = z.string().min(1);
/** `alias:port`, e.g. `postgres-qual:5432`. */
const hostPort = z.string().regex(/^[A-Za-z0-9_.-]+:[0-9]{1,5}$/, { error: "expected alias:port such as postgres-qual:5432" });

export const topologyEntrySchema = z.object({
  role: z.enum(["store", "service"]),
  port: z.number().int().min(1).max(65535),
  /** The networks it must be on, exactly. */
  networks: z.array(name),
  /** What it must be able to reach. */
  dependencies: z.array(hostPort),
  router: z.string().optional(),
  host: z.string().optional(),
});

export const stackOutputsSchema = z.object({
  environment: name,
  /** What the stack renders to: containers on one host, or services on a swarm. Outputs written before the key existed are a docker stack's. */
  runtime: z.enum(["docker", "swarm"]).default("docker"),
  containers: z.record(z.string(), name),
  networks: z.record(z.string(), name),
  volumes: z.record(z.string(), name),
  urls: z.record(z.string(), z.string()).default({}),
  edge: z.object({
    mode: z.enum(["isolated", "shared"]),
    network: name,
    traefikContainer: name,
    traefikNetwork: name,
    /** Isolated mode: the subnet pinned on the edge network, which Keycloak trusts proxy headers from. */
    subnet: z.string().optional(),
  }),
  neighbours: z.array(name).default([]),
  topology: z.record(z.string(), topologyEntrySchema),
  /** Each app service's deployed release: `repository@sha256:…`, source commit, pipeline (from the release manifest). */
  images: z.record(z.string(), z.object({ image: z.string().regex(/@sha256:[0-9a-f]{64}$/, { error: "expected repository@sha256:<64 hex>" }), commit: name, pipeline: name })).default({}),
});

export type StackOutputs = z.output<typeof stackOutputsSchema>;
export type TopologyEntry = z.output<typeof topologyEntrySchema>;
