import { randomUUID } from "node:crypto";
import { verify } from "@node-rs/argon2";
import Fastify from "fastify";
import pg from "pg";

/**
 * The baselines: bare Fastify routes with no Kept code in the way, on the
 * same PostgreSQL and the same pool size as the service, so each Kept figure
 * can be read as a share of what the framework and the database allow.
 */

const databaseUrl = process.env.DATABASE_URL;
const port = Number(process.env.PORT ?? 0);
const poolSize = Number(process.env.KEPT_DB_POOL_SIZE ?? 10);
const passwordHash = process.env.BENCH_PASSWORD_HASH ?? "";
if (!databaseUrl) throw new Error("DATABASE_URL is required");

const pool = new pg.Pool({ connectionString: databaseUrl, max: poolSize });
pool.on("error", () => {});
const app = Fastify({ logger: false });

/** Framework ceiling. */
app.get("/bare/constant", async () => ({ status: "ok", service: "kept", version: 1 }));

/** Single-write ceiling: one parameterised INSERT of a commitment row (into a copy of the table without Kept's triggers). */
app.post("/bare/commitments", async (request, reply) => {
  const body = request.body as { pairId: string; ownerId: string; title: string; dueAt: string };
  const now = new Date();
  const dueAt = new Date(body.dueAt);
  const { rows } = await pool.query(
    `INSERT INTO bench_commitments (id, pair_id, owner_id, title, details, category, due_at, grace_minutes, lapses_at, status, created_at, updated_at)
     VALUES ($1, $2, $3, $4, NULL, 'other', $5, 15, $6, 'open', $7, $7) RETURNING *`,
    [randomUUID(), body.pairId, body.ownerId, body.title, dueAt, new Date(dueAt.getTime() + 15 * 60_000), now],
  );
  return reply.code(201).send(rows[0]);
});

/** Read ceiling: 50 rows by an indexed key. */
app.get("/bare/events/:pairId", async (request) => {
  const { pairId } = request.params as { pairId: string };
  const { rows } = await pool.query("SELECT * FROM events WHERE pair_id = $1 ORDER BY seq LIMIT 50", [pairId]);
  return { data: rows };
});

/** Hashing ceiling: one argon2id verification per request, as many at once as libuv runs. */
app.post("/bare/argon2", async (request, reply) => {
  const { password } = request.body as { password: string };
  const valid = await verify(passwordHash, password);
  return reply.code(valid ? 200 : 401).send({ valid });
});

await app.listen({ port, host: "127.0.0.1" });
const address = app.server.address();
process.stdout.write(`listening ${typeof address === "object" && address ? address.port : port}\n`);

const stop = async () => {
  await app.close();
  await pool.end();
  process.exit(0);
};
process.once("SIGTERM", () => void stop());
process.once("SIGINT", () => void stop());
