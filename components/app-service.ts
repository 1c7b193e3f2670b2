import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { TYPE_TOKENS, childName } from "../model/naming";
import { CONTAINER_REPLACE_ON_CHANGES, containerArgs, renderEnvs, revisionName, type ContainerInputs } from "./container";

export interface AppServiceArgs extends ContainerInputs {
  /** What must be ready before it starts: the store containers it uses, healthy, and its database provisioned. */
  stores: pulumi.Resource[];
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

  constructor(name: string, args: AppServiceArgs, opts?: pulumi.ComponentResourceOptions) {
    super(TYPE_TOKENS.appService, name, {}, opts);
    const envs = renderEnvs(args.plan, args.credentials, args.edgeSubnet);
    const revisioned = args.plan.rollout.strategy === "revisioned";
    this.container = new docker.Container(childName(name, "container"), containerArgs(args, revisionName(args.plan, envs), envs), {
      parent: this,
      dependsOn: args.stores,
      deleteBeforeReplace: !revisioned,
      ...CONTAINER_REPLACE_ON_CHANGES,
    });
    this.registerOutputs({ containerName: this.container.name });
  }
}
