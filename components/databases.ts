import { createHash } from "node:crypto";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import type { Credential } from "../catalog/types";
import type { DatabasePlan } from "../model/databases";
import { TYPE_TOKENS, childName } from "../model/naming";
import { MAINTENANCE_DATABASE, PSQL_FLAGS, provisioningSql, scramSha256Verifier } from "../model/provisioning";

export interface DatabasesArgs {
  /** The plan's databases: one per service that uses PostgreSQL. */
  databases: DatabasePlan[];
  /**
   * The postgres store's container (created only once healthy): its name to exec into, its id to notice a new one.
   * On Swarm, the resource that finds the running task's container (components/swarm/environment.ts).
   */
  postgres: pulumi.CustomResource & { name: pulumi.Output<string> };
  /** Secret Outputs holding at least every `databases[].credential`. */
  credentials: Partial<Record<Credential, pulumi.Output<string>>>;
}

/**
 * Runs psql inside the postgres container on the script given on stdin. `sh -c` expands the
 * superuser's name and password from the container's own env inside the container, so neither
 * is on this command line or the exec's; with the image's `local all all trust` rule psql does
 * not need the password, and with a stricter pg_hba.conf it has it. DOCKER_HOST is honoured as
 * the docker provider honours it.
 */
export const PROVISION_SCRIPT = [
  "set -eu",
  `docker exec -i "$POSTGRES_CONTAINER" sh -c 'PGPASSWORD="$POSTGRES_PASSWORD" exec psql ${PSQL_FLAGS.join(" ")} --username="$POSTGRES_USER" --dbname=${MAINTENANCE_DATABASE}'`,
].join("\n");

const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/**
 * Each service's own database and login role in the environment's PostgreSQL.
 *
 * The SQL reaches psql on stdin as a secret Output and names each password
 * only as its SCRAM-SHA-256 verifier, so no password is on a command line, in
 * `docker inspect`, in a log or in state. Each verifier's salt is a random
 * value kept in state, so the same password renders the same SQL: an unchanged
 * environment re-renders an unchanged command.
 *
 * The command runs again when any of its inputs change: the script (a new
 * service's database, a rotated password or salt, a changed pool) or the
 * postgres container's id, so a recreated store, whose volume may be new, is
 * provisioned again. Nothing is run on delete: dropping a database would drop
 * a service's data.
 */
export class Databases extends pulumi.ComponentResource {
  /** Done once every role and database exists as planned: services that use PostgreSQL depend on it. */
  readonly provisioned: command.local.Command;

  constructor(name: string, args: DatabasesArgs, opts?: pulumi.ComponentResourceOptions) {
    super(TYPE_TOKENS.databases, name, {}, opts);
    const logins = args.databases.map((database) => {
      const password = args.credentials[database.credential];
      if (!password) throw new Error(`no credential ${database.credential} was passed in for ${database.role}`);
      const salt = new random.RandomBytes(childName(name, kebab(database.credential), "salt"), { length: 16 }, { parent: this });
      return pulumi.all([password, salt.base64]).apply(([value, saltBase64]) => ({
        database: database.database,
        role: database.role,
        connectionLimit: database.connectionLimit,
        verifier: scramSha256Verifier(value, Buffer.from(saltBase64, "base64")),
      }));
    });
    const sql = pulumi.secret(pulumi.all(logins).apply(provisioningSql));
    this.provisioned = new command.local.Command(
      childName(name, "provisioning"),
      {
        create: PROVISION_SCRIPT,
        stdin: sql,
        environment: { POSTGRES_CONTAINER: args.postgres.name },
        triggers: [
          // Readable in a preview's diff: which databases the run is for.
          args.databases.map((d) => `${d.role}@${d.database}`),
          // A hash of the script, secret because it is derived from the verifiers: shows that it changed.
          pulumi.secret(sql.apply((text) => createHash("sha256").update(text).digest("hex"))),
          args.postgres.id,
        ],
      },
      // The engine keeps an output secret when its input was; said outright for the echo of stdin.
      { parent: this, dependsOn: [args.postgres], additionalSecretOutputs: ["stdin"] },
    );
    this.registerOutputs({});
  }
}
