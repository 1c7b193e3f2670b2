import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { EXTERNAL_SECRETS, type Credential } from "../catalog/types";
import { TYPE_TOKENS, childName } from "../model/naming";

export interface CredentialsArgs {
  /** Every credential some container's env names. */
  needed: Credential[];
  /**
   * Credentials the stack sets as config secrets. They win over generated ones:
   * a data volume keeps the password it was initialised with, so taking over an
   * existing volume means supplying its password.
   */
  fromConfig: Credential[];
}

const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** The environment's credentials, each a secret Output: generated, or read from config secrets. */
export class Credentials extends pulumi.ComponentResource {
  readonly values: Partial<Record<Credential, pulumi.Output<string>>> = {};

  constructor(name: string, args: CredentialsArgs, opts?: pulumi.ComponentResourceOptions) {
    super(TYPE_TOKENS.credentials, name, {}, opts);
    const config = new pulumi.Config();
    for (const credential of [...new Set(args.needed)].sort()) {
      const external = (EXTERNAL_SECRETS as readonly string[]).includes(credential);
      this.values[credential] =
        external || args.fromConfig.includes(credential)
          ? config.requireSecret(credential)
          : new random.RandomPassword(
              childName(name, kebab(credential)),
              // Alphanumeric only: these end up inside URLs (amqp://user:pass@host) and shell-free env files.
              { length: 32, special: false },
              { parent: this },
            ).result;
    }
    this.registerOutputs({});
  }
}
