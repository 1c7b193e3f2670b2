import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { TYPE_TOKENS, childName } from "../model/naming";
import { CONTAINER_REPLACE_ON_CHANGES, containerArgs, renderEnvs, revisionName, type ContainerInputs } from "./container";

export interface AppServiceArgs extends ContainerInputs {
  /** What must be ready before it starts: the store containers it uses, healthy, and its database provisioned. */
  stores: pulumi.Resource[];
  /** The Docker provider that holds the registry login; only the image pull uses it. */
  registryProvider: docker.Provider;
}

/**
 * One of the application services.
 *
 * Routed, stateless services roll out with zero downtime: the new revision gets
 * a name of its own, is created beside the old one (Pulumi's default
 * create-before-delete), must turn healthy (`wait`) and joins the same Traefik
 * router, so Traefik balances across both until the old one is removed. Others
 * keep their fixed name and are replaced delete-first.
 */
export class AppService extends pulumi.ComponentResource {
  readonly container: docker.Container;
  readonly image: docker.RemoteImage;

  constructor(name: string, args: AppServiceArgs, opts?: pulumi.ComponentResourceOptions) {
    super(TYPE_TOKENS.appService, name, {}, opts);
    const envs = renderEnvs(args.plan, args.credentials, args.edgeSubnet);
    const revisioned = args.plan.rollout.strategy === "revisioned";
    // Pulled by digest (`repository@sha256:…`), so a moved tag can never change what runs.
    // keepLocally: qual and prod share the host's image store, and destroying one stack's
    // RemoteImage must not delete an image the other still runs; old images are pruned by
    // tools/release/prune.ts instead.
    this.image = new docker.RemoteImage(
      childName(name, "image"),
      { name: args.plan.image, keepLocally: true },
      { parent: this, provider: args.registryProvider },
    );
    // The image ID, not the reference: the provider reads a container's image back as the
    // ID, so passing the name or repoDigest would replace the container on every run
    // (pulumi/pulumi-docker#325, #1431).
    const image = this.image.imageId;
    this.container = new docker.Container(childName(name, "container"), containerArgs(args, revisionName(args.plan, envs), envs, image), {
      parent: this,
      dependsOn: args.stores,
      deleteBeforeReplace: !revisioned,
      ...CONTAINER_REPLACE_ON_CHANGES,
    });
    this.registerOutputs({ containerName: this.container.name });
  }
}
