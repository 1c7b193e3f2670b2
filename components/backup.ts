import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { BACKUP_WEBHOOK_ENV, type BackupPlan } from "../model/backup";
import { TYPE_TOKENS, childName } from "../model/naming";
import { CONTAINER_REPLACE_ON_CHANGES, containerArgs, renderEnvs, type ContainerInputs } from "./container";

export interface BackupArgs extends ContainerInputs {
  /** model/backup.ts computes it from validated config. */
  plan: BackupPlan;
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
    const envs = [
      ...renderEnvs(plan, args.credentials),
      // The plan cannot know whether the stack sets this optional secret, so it comes in beside the plan.
      ...(args.webhook ? [pulumi.secret(args.webhook.apply((url) => `${BACKUP_WEBHOOK_ENV}=${url}`))] : []),
    ];
    this.container = new docker.Container(childName(name, "container"), containerArgs(args, plan.containerName, envs, this.image.imageId), {
      parent: this,
      deleteBeforeReplace: true,
      dependsOn: args.stores,
      ...CONTAINER_REPLACE_ON_CHANGES,
    });
    this.registerOutputs({ containerName: this.container.name });
  }
}
