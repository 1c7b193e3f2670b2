import type { StackOutputs } from "../../../model/outputs";
import { formatDotenv, outputsToDotenv, secretPaths } from "../../../tools/ci/outputs-to-dotenv";

// Only what the dotenv report reads is filled in; the rest is the contract's minimum.
const qualOutputs: StackOutputs = {
  environment: "qual",
  runtime: "docker",
  containers: {},
  networks: {},
  volumes: {},
  urls: {
    "public-fo": "https://qual.portugalodyssey.pt",
    "strapi-cms": "https://cms.qual.portugalodyssey.pt",
    "api-gateway": "https://api.qual.portugalodyssey.pt",
    keycloak: "https://auth.qual.portugalodyssey.pt",
  },
  edge: { mode: "isolated", network: "po-edge-qual", traefikContainer: "traefik", traefikNetwork: "traefik" },
  neighbours: [],
  topology: {},
  images: {},
};

describe("outputsToDotenv", () => {
  it("writes the environment URL from urls.public-fo, the environment and the API URL, nothing else", () => {
    expect(outputsToDotenv(qualOutputs)).toBe(
      "ENVIRONMENT_URL=https://qual.portugalodyssey.pt\nPO_ENVIRONMENT=qual\nPO_API_URL=https://api.qual.portugalodyssey.pt\n",
    );
  });

  it("refuses a URL that Pulumi hid as [secret]", () => {
    expect(() => outputsToDotenv({ ...qualOutputs, urls: { ...qualOutputs.urls, "public-fo": "[secret]" } })).toThrow(/secret/);
  });

  it("refuses an environment name that is a secret placeholder", () => {
    expect(() => outputsToDotenv({ ...qualOutputs, environment: "[secret]" })).toThrow(/secret/);
  });

  it("refuses an environment that is a stack name but not a suffix, such as Qual-Two", () => {
    expect(() => outputsToDotenv({ ...qualOutputs, environment: "Qual-Two" })).toThrow(/environment is not a suffix: Qual-Two/);
  });

  it("refuses a URL carrying credentials", () => {
    expect(() => outputsToDotenv({ ...qualOutputs, urls: { "public-fo": "https://admin:pw@qual.portugalodyssey.pt" } })).toThrow(/credentials/);
  });

  it("refuses values a dotenv line cannot carry", () => {
    expect(() => outputsToDotenv({ ...qualOutputs, urls: { "public-fo": "https://qual.portugalodyssey.pt/\nEVIL=1" } })).toThrow(/characters/);
  });

  it("fails clearly when the public URL is missing", () => {
    expect(() => outputsToDotenv({ ...qualOutputs, urls: {} })).toThrow(/urls\["public-fo"\] is missing/);
  });

  it("omits PO_API_URL when the stack has no api-gateway URL", () => {
    expect(outputsToDotenv({ ...qualOutputs, environment: "prod", urls: { "public-fo": "https://portugalodyssey.pt" } })).toBe("ENVIRONMENT_URL=https://portugalodyssey.pt\nPO_ENVIRONMENT=prod\n");
  });
});

describe("helpers", () => {
  it("finds every [secret] placeholder by path", () => {
    expect(secretPaths({ a: "[secret]", b: { c: ["x", "[secret]"] } })).toEqual(["$.a", "$.b.c[1]"]);
  });

  it("rejects keys that are not dotenv names", () => {
    expect(() => formatDotenv({ "bad-key": "x" })).toThrow(/bad dotenv key/);
  });
});
