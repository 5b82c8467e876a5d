import type { FastifyRequest } from "fastify";
import { AppError } from "../errors/app-error.js";

/** Who is calling: the user and the login (refresh family) their access token belongs to. */
export type Principal = { id: string; familyId: string };

declare module "fastify" {
  interface FastifyRequest {
    user: Principal | undefined;
  }
}

/** The caller of a route that requires authentication (its hook has already run). */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.user) throw new AppError("UNAUTHENTICATED");
  return request.user;
}
