import type { FastifyRequest } from "fastify";

/** A route hook that runs before validation, so a foreign pair answers 404 before any 400. */
export type AccessHook = (request: FastifyRequest) => Promise<void>;
