import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { TYPE_TOKENS, childName } from "../model/naming";
import type { EnvironmentPlan } from "../model/environment";
import { firstAddress } from "../model/read-back";

export interface EdgeArgs {
  /** Where Traefik meets the routed services: the mode, the edge network's name and the existing Traefik container and network. */
  edge: EnvironmentPlan["edge"];
  /** Ownership labels for the edge network this component creates in isolated mode. */
  labels: { label: string; value: string }[];
  /**
   * The edge network's driver: `bridge` on one host (default), `overlay` on a swarm, attachable so the
   * existing Traefik container joins it. Either way it is this component's child, so a stack that moves
   * to a swarm keeps the network's URN and Pulumi replaces the bridge by the overlay delete-first.
   */
  driver?: "bridge" | "overlay";
}

// Idempotent both ways: `up` after a manual connect, or `destroy` after Traefik was recreated, must not fail.
export const CONNECT_SCRIPT = `set -eu
members=$(docker network inspect --format '{{range .Containers}}{{.Name}} {{end}}' "$EDGE_NETWORK")
if printf '%s\\n' $members | grep -qx "$TRAEFIK_CONTAINER"; then
  echo "$TRAEFIK_CONTAINER is already attached to $EDGE_NETWORK"
else
  docker network connect "$EDGE_NETWORK" "$TRAEFIK_CONTAINER"
fi`;

export const DISCONNECT_SCRIPT = `set -eu
members=$(docker network inspect --format '{{range .Containers}}{{.Name}} {{end}}' "$EDGE_NETWORK" 2>/dev/null) || exit 0
if printf '%s\\n' $members | grep -qx "$TRAEFIK_CONTAINER"; then
  docker network disconnect "$EDGE_NETWORK" "$TRAEFIK_CONTAINER"
fi`;

/**
 * Where Traefik meets this environment's routed services.
 *
 * `isolated` (default): a network of our own, `po-edge-E`, with the existing
 * Traefik attached to it. The docker provider cannot attach a network to a
 * container it does not own, so a command does, through the docker CLI (which
 * honours DOCKER_HOST like the provider). Traefik's configuration is untouched.
 *
 * `shared`: the Compose deployment's layout, the existing `traefik` network, looked up and
 * never created or changed.
 */
export class Edge extends pulumi.ComponentResource {
  readonly networkName: pulumi.Output<string>;
  /** The edge network's ID, once Traefik is attached: a swarm service names its networks by ID. */
  readonly networkId: pulumi.Output<string>;
  /** The edge network's IPv4 subnet: the one pinned (isolated) or the one the traefik network has (shared). Keycloak trusts proxy headers from it. */
  readonly subnet: pulumi.Output<string>;

  constructor(name: string, args: EdgeArgs, opts?: pulumi.ComponentResourceOptions) {
    super(TYPE_TOKENS.edge, name, {}, opts);
    const { edge } = args;
    if (edge.mode === "shared") {
      const traefik = docker.getNetworkOutput({ name: edge.traefikNetwork }, { parent: this });
      this.networkName = traefik.name;
      this.networkId = traefik.id;
      this.subnet = traefik.ipamConfigs.apply((configs) => {
        const subnet = configs.map((c) => c.subnet).find((s) => s !== undefined && s.includes("."));
        if (!subnet) throw new Error(`network ${edge.traefikNetwork} has no IPv4 subnet to give Keycloak as its trusted proxy addresses`);
        return subnet;
      });
    } else {
      if (!edge.subnet) throw new Error(`isolated edge ${edge.network} has no subnet; config validation should have refused this`);
      const overlay = args.driver === "overlay";
      const network = new docker.Network(
        childName(name, "network"),
        // Pinned, so Keycloak can trust proxy headers from exactly this network (KC_PROXY_TRUSTED_ADDRESSES).
        // The gateway too: left out, Docker reports the one it picked (for an overlay, the swarm allocator stores
        // the subnet's first address at once: moby daemon/libnetwork/cnmallocator/networkallocator.go allocatePools)
        // and the provider reads it back into ipam_config, which is ForceNew (kreuzwerker #54); a network with
        // endpoints cannot be replaced.
        {
          name: edge.network,
          driver: args.driver ?? "bridge",
          ...(overlay ? { attachable: true } : {}),
          labels: args.labels,
          ipamConfigs: [{ subnet: edge.subnet, gateway: firstAddress(edge.subnet) }],
        },
        // A bridge of the same URN and name is replaced by the overlay: Docker refuses a second network of one
        // name ("network with name … already exists"), so the bridge, and before it the containers on it
        // (Pulumi deletes a delete-first replacement's dependents first: pkg/resource/deploy/step_generator.go),
        // must go first.
        { parent: this, ...(overlay ? { deleteBeforeReplace: true } : {}) },
      );
      this.subnet = pulumi.output(edge.subnet);
      const attachment = new command.local.Command(
        childName(name, "traefik-attachment"),
        {
          create: CONNECT_SCRIPT,
          delete: DISCONNECT_SCRIPT,
          environment: { EDGE_NETWORK: edge.network, TRAEFIK_CONTAINER: edge.traefikContainer },
          // A recreated network or another Traefik container needs a fresh connect.
          triggers: [network.id, edge.traefikContainer],
        },
        // Delete-first: a replacement created first would find Traefik attached, do nothing, and then
        // the old command's delete would detach it.
        { parent: this, dependsOn: [network], deleteBeforeReplace: true },
      );
      this.networkName = pulumi.all([network.name, attachment.id]).apply(([networkName]) => networkName);
      this.networkId = pulumi.all([network.id, attachment.id]).apply(([networkId]) => networkId);
    }
    this.registerOutputs({ networkName: this.networkName, subnet: this.subnet });
  }
}
