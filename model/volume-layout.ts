/**
 * Whether an adopted volume holds its data where this program's store will
 * look for it. A store that finds nothing where it looks initialises afresh,
 * beside the old data, and serves an empty database: so an adoption whose
 * layout does not match is refused before anything is registered, with the
 * config that makes it match.
 *
 * Pure: it reads listings of the volumes (paths relative to the volume root,
 * two levels deep) that host/ takes with a one-shot container.
 */
import type { VolumeKey } from "../catalog/types";
import type { EnvironmentPlan } from "./environment";
import { PROJECT } from "./naming";

export interface VolumeToCheck {
  key: VolumeKey;
  volumeName: string;
  /** The image of the store that mounts it: it is on the host (or will be), and has `find`. */
  image: string;
}

/** Entries a filesystem puts at the root of a fresh volume that are not data. */
const NOT_DATA = new Set(["lost+found"]);

/** The volumes whose layout decides whether the store finds its data: adopted ones with a rule below. */
export function volumesToCheck(plan: EnvironmentPlan): VolumeToCheck[] {
  return plan.volumes
    .filter((v) => v.adopted && v.key in RULES)
    .map((v) => {
      const store = plan.containers.find((c) => c.kind === "store" && c.volumes.some((m) => m.key === v.key))!;
      return { key: v.key, volumeName: v.name, image: store.image };
    });
}

export interface LayoutProblem {
  /** The config key whose value would fix it. */
  path: string;
  message: string;
}

type Rule = (plan: EnvironmentPlan, stack: string, volumeName: string, entries: string[]) => LayoutProblem | undefined;

const setKey = (key: string, value: string, stack: string) => `pulumi config set --path ${key} ${value} --stack ${stack}`;

/**
 * The official postgres image keeps its cluster in PGDATA; the entrypoint runs
 * initdb there when it finds no PG_VERSION, whatever else the volume holds
 * (docker-library/postgres docker-entrypoint.sh, docker_setup_env / DATABASE_ALREADY_EXISTS).
 */
const postgres: Rule = (plan, stack, volumeName, entries) => {
  const store = plan.containers.find((c) => c.name === "postgres")!;
  const mount = store.volumes.find((v) => v.key === "postgres-data")!.containerPath;
  const pgdata = store.env.find((e) => e.name === "PGDATA")?.value ?? mount;
  const dataDir = pgdata === mount ? "" : pgdata.slice(mount.length + 1);
  const clusterAt = (dir: string) => entries.includes(dir ? `${dir}/PG_VERSION` : "PG_VERSION");
  if (clusterAt(dataDir) || entries.every((e) => NOT_DATA.has(e.split("/")[0]))) return undefined;
  const key = `${PROJECT}:data.postgresDataAtVolumeRoot`;
  if (dataDir && clusterAt("")) {
    return {
      path: key,
      message: `volume ${volumeName} holds a PostgreSQL cluster at its root, but PGDATA is ${pgdata}: the image would initialise an empty cluster in ${dataDir}/ beside it and serve that. Make the volume root PGDATA: ${setKey("data.postgresDataAtVolumeRoot", "true", stack)}`,
    };
  }
  const elsewhere = entries.filter((e) => e.endsWith("/PG_VERSION")).map((e) => e.slice(0, -"/PG_VERSION".length));
  if (!dataDir && elsewhere.length > 0) {
    return {
      path: key,
      message: `volume ${volumeName} holds a PostgreSQL cluster in ${elsewhere.join(", ")}/, but PGDATA is the volume root (${pgdata}): the image would initialise an empty cluster beside it. Remove data.postgresDataAtVolumeRoot if the cluster is in pgdata/`,
    };
  }
  return {
    path: `${PROJECT}:data.volumes.postgres-data`,
    message: `volume ${volumeName} is not empty (${entries.slice(0, 5).join(", ")}) but holds no PostgreSQL cluster at ${pgdata}: the image would initialise a new one beside that data. Check that data.volumes.postgres-data names the Compose deployment's postgres volume`,
  };
};

/**
 * RabbitMQ keeps a node's data under mnesia/<node name>; the node name is
 * rabbit@<hostname> (RABBITMQ_NODENAME's default, https://www.rabbitmq.com/docs/relocate).
 * A node of another name starts empty beside it.
 */
const NODE_DIR = /^mnesia\/([^/@]+@[^/@]+)$/;
const NODE_SIDE_FILES = /(\.pid|-feature_flags|-plugins-expand|-rename)$/;
const rabbitmq: Rule = (plan, stack, volumeName, entries) => {
  const store = plan.containers.find((c) => c.name === "rabbitmq")!;
  const ours = `rabbit@${store.hostname}`;
  const nodes = entries.flatMap((e) => NODE_DIR.exec(e)?.[1] ?? []).filter((n) => !NODE_SIDE_FILES.test(n));
  if (nodes.length === 0 || nodes.includes(ours)) return undefined;
  const hosts = nodes.map((n) => n.slice(n.indexOf("@") + 1));
  return {
    path: `${PROJECT}:data.rabbitmqHostname`,
    message: `volume ${volumeName} holds RabbitMQ data for node ${nodes.join(", ")}, but this stack's node is ${ours}: it would start empty beside it. Keep the old node name: ${setKey("data.rabbitmqHostname", hosts[0], stack)}`,
  };
};

const RULES: Partial<Record<VolumeKey, Rule>> = { "postgres-data": postgres, "rabbitmq-data": rabbitmq };

/** One problem per adopted volume whose listing does not match where its store looks. */
export function layoutProblems(plan: EnvironmentPlan, listings: Partial<Record<VolumeKey, string[]>>): LayoutProblem[] {
  return volumesToCheck(plan).flatMap((v) => RULES[v.key]!(plan, plan.stack, v.volumeName, listings[v.key] ?? []) ?? []);
}
