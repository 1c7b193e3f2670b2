/**
 * The Traefik middlewares a route can list, as the label keys Traefik's Docker
 * provider reads under `traefik.http.middlewares.<name>.` (valid in v2 and v3).
 * Plain data: model/traefik.ts names each one after its own definition, so a
 * change here gives the new revision a new middleware beside the old one.
 */
export const MIDDLEWARES = {
  "secure-headers": {
    "headers.stsSeconds": "31536000",
    "headers.contentTypeNosniff": "true",
    "headers.frameDeny": "true",
    "headers.referrerPolicy": "strict-origin-when-cross-origin",
  },
  /**
   * For Keycloak, which sets its own browser security headers per realm
   * (X-Frame-Options SAMEORIGIN, a CSP with frame-ancestors 'self', Referrer-Policy
   * no-referrer: keycloak/keycloak server-spi/src/main/java/org/keycloak/models/BrowserSecurityHeaders.java).
   * Traefik's headers middleware overwrites what the backend sent, so frameDeny would
   * turn SAMEORIGIN into DENY and break the admin console and the silent-SSO and
   * session iframes (https://github.com/keycloak/keycloak-ui/issues/4033), and referrerPolicy would weaken
   * no-referrer. Only HSTS and nosniff, which Keycloak's defaults agree with, are kept.
   */
  "auth-headers": {
    "headers.stsSeconds": "31536000",
    "headers.contentTypeNosniff": "true",
  },
  compress: { compress: "true" },
  /**
   * Retries a request whose connection to the server failed before anything was
   * sent (the stopping revision of a rollout); a request the server received is
   * never sent twice. 3 tries in all, 100 ms then up to 200 ms apart (Traefik's
   * retry middleware: attempts, initialInterval; doc.traefik.io/traefik/middlewares/http/retry/).
   */
  retry: { "retry.attempts": "3", "retry.initialInterval": "100ms" },
} as const satisfies Record<string, Record<string, string>>;

export type MiddlewareName = keyof typeof MIDDLEWARES;
/** A middleware's labels, keyed below `traefik.http.middlewares.<name>.`. */
export type MiddlewareDefinition = Readonly<Record<string, string>>;
