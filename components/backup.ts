import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import type { Credential, StoreName, VolumeKey } from "../catalog/types";
import type { BackupPlan } from "../model/backup";
import type { NetworkKey } from "../model/environment";
import { TYPE_TOKENS, childName } from "../model/naming";
import { fillCredentials, credentialsIn } from "../model/templates";
import { CONTAINER_REPLACE_ON_CHANGES } from "./container";

export interface BackupArgs {
  /** model/backup.ts computes it from validated config. */
  plan: BackupPlan;
  networks: Partial<Record<NetworkKey, pulumi.Input<string>>>;
  volumes: Partial<Record<VolumeKey, pulumi.Input<string>>>;
  credentials: Partial<Record<Credential, pulumi.Output<string>>>;
  /** Where a failed run is posted (config secret backupWebhookUrl), if set. */
  webhook?: pulumi.Output<string>;
  /** Started after the stores it dumps: its first run should not meet a store that is still starting. */
  stores: docker.Container[];
  /** The Docker provider that holds the registry login; only the image pull uses it. */
  registryProvider: docker.Provider;
}

/**
 * The environment's backup container: no published port, read-only root, every
 * capability dropped, a memory limit the host budget counts. It schedules the
 * nightly backup itself (backup/cli.ts, `backup daemon`), so backups need neither CI nor
 * a person; the Docker socket is not mounted: it only talks to the stores over
 * their networks and reads their volumes read-only.
 */
export class Backup extends pulumi.ComponentResource {
  readonly container: docker.Container;
  readonly image: docker.RemoteImage;

  constructor(name: string, args: BackupArgs, opts?: pulumi.ComponentResourceOptions) {
    super(TYPE_TOKENS.backup, name, {}, opts);
    const { plan } = args;
    // Pulled by digest and run by image ID, as the app images are (components/app-service.ts says why).
    this.image = new docker.RemoteImage(childName(name, "image"), { name: plan.image, keepLocally: true }, { parent: this, provider: args.registryProvider });
    const envs: pulumi.Input<string>[] = [
      ...Object.entries(plan.env).map(([k, v]) => `${k}=${v}`),
      ...Object.entries(plan.secretEnv).map(([k, template]) => {
        const values = pulumi.all(Object.fromEntries(credentialsIn(template).map((c) => [c, args.credentials[c]!])));
        return pulumi.secret(values.apply((vals) => `${k}=${fillCredentials(template, vals)}`));
      }),
      ...(args.webhook ? [pulumi.secret(args.webhook.apply((url) => `PO_BACKUP_WEBHOOK=${url}`))] : []),
    ];
    this.container = new docker.Container(
      childName(name, "container"),
      {
        name: plan.containerName,
        image: this.image.imageId,
        envs,
        labels: Object.entries(plan.labels).map(([label, value]) => ({ label, value })),
        networksAdvanced: plan.networks.map((n) => ({ name: args.networks[n.key as StoreName | "backup"]! })),
        healthcheck: plan.healthcheck,
        restart: "unless-stopped",
        memory: plan.resources.memoryMb,
        memorySwap: plan.resources.memoryMb,
        cpus: String(plan.resources.cpus),
        readOnly: plan.security.readOnly,
        tmpfs: plan.security.tmpfs,
        user: plan.security.user,
        capabilities: { drops: plan.security.capDrop, adds: plan.security.capAdd },
        securityOpts: plan.security.securityOpts,
        volumes: [
          ...plan.volumes.map((v) => ({ volumeName: args.volumes[v.key]!, containerPath: v.containerPath, readOnly: v.readOnly })),
          ...(plan.localRepository ? [{ hostPath: plan.localRepository, containerPath: plan.localRepository, readOnly: false }] : []),
        ],
        logDriver: plan.logs.driver,
        logOpts: plan.logs.opts,
        // A backup in flight gets time to finish its restic upload; an interrupted one is never tagged complete anyway.
        destroyGraceSeconds: 120,
        mustRun: true,
      },
      { parent: this, deleteBeforeReplace: true, dependsOn: args.stores, ...CONTAINER_REPLACE_ON_CHANGES },
    );
    this.registerOutputs({ containerName: this.container.name });
  }
}
