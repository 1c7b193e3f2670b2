/** Credential placeholders: filled as they are, or percent-encoded where they sit inside a URL. */
import { fillCredentials, renderTemplate } from "../../model/templates";

const ctx = { env: "qual", alias: (target: string) => `${target}-qual` };
const awkward = "p@ss:w/rd?#%20 x+y";

test("a credential marked :url is percent-encoded, and a URL parser gives the exact password back", () => {
  const url = fillCredentials(renderTemplate("redis://:{redisPassword:url}@{alias:redis}:6379", ctx), { redisPassword: awkward });
  const parsed = new URL(url);
  expect(parsed.hostname).toBe("redis-qual");
  expect(parsed.port).toBe("6379");
  expect(decodeURIComponent(parsed.password)).toBe(awkward);
});

test("a credential without :url is filled as it is (a plain env value)", () => {
  expect(fillCredentials("{redisPassword}", { redisPassword: awkward })).toBe(awkward);
});

test("a credential with any other argument is a template error", () => {
  expect(() => renderTemplate("{redisPassword:base64}", ctx)).toThrow(/takes no argument but :url/);
});
