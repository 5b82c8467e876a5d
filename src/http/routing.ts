import type { FastifyInstance } from "fastify";
import FindMyWay, { type HTTPMethod } from "find-my-way";
import { sendProblem } from "./problem.js";

const methods: HTTPMethod[] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/**
 * Unknown paths answer 404; a known path with the wrong method answers 405
 * with an `Allow` header. Fastify answers 404 to both, so a second router
 * remembers which paths exist. Call before any route is registered.
 */
export function registerRouteFallbacks(app: FastifyInstance): void {
  const known = FindMyWay();
  const registered = new Set<string>();
  app.addHook("onRoute", (route) => {
    // The CORS preflight catch-all would make every path look known.
    if (route.url === "*" || route.url === "/*") return;
    const routeMethods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of routeMethods) {
      const id = `${method} ${route.url}`;
      if (registered.has(id) || !methods.includes(method as HTTPMethod)) continue;
      registered.add(id);
      known.on(method as HTTPMethod, route.url, () => {});
    }
  });

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split("?")[0] ?? "/";
    const allowed = methods.filter((method) => known.find(method, path) !== null);
    if (allowed.length > 0) {
      reply.header("allow", allowed.join(", "));
      return sendProblem(
        request,
        reply,
        "METHOD_NOT_ALLOWED",
        `${request.method} is not allowed here; use ${allowed.join(", ")}`,
      );
    }
    return sendProblem(request, reply, "ROUTE_NOT_FOUND", `No route ${request.method} ${path}`);
  });
}
