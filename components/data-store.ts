import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { TYPE_TOKENS, childName } from "../model/naming";
import { CONTAINER_REPLACE_ON_CHANGES, containerArgs, renderEnvs, type ContainerInputs } from "./container";

export type DataStoreArgs = ContainerInputs;

/**
 * A data store: one container with a fixed name on its own internal network,
 * next to its volume. It is replaced delete-first, because Docker refuses a
 * second container with the same name and two processes must never share a
 * data directory.
 */
export class DataStore extends pulumi.ComponentResource {
  readonly container: docker.Container;

  constructor(name: string, args: DataStoreArgs, opts?: pulumi.ComponentResourceOptions) {
    super(TYPE_TOKENS.dataStore, name, {}, opts);
    const envs = renderEnvs(args.plan, args.credentials);
    this.container = new docker.Container(childName(name, "container"), containerArgs(args, args.plan.containerName, envs), {
      parent: this,
      deleteBeforeReplace: true,
      ...CONTAINER_REPLACE_ON_CHANGES,
    });
    this.registerOutputs({ containerName: this.container.name });
  }
}
