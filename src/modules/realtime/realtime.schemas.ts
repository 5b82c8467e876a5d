import { z } from "zod";
import { eventSchema } from "../history/index.js";

export const ticketSchema = z
  .object({
    ticket: z.string().describe("Single use; pass it as `?ticket=` when opening `GET /v1/stream`"),
    expiresAt: z.iso.datetime({ offset: true }),
  })
  .meta({ id: "StreamTicket" });

export const streamQuery = z.strictObject({
  ticket: z.string().max(128).optional().describe("From `POST /v1/stream/tickets` (browsers)"),
  after: z.coerce
    .number()
    .int()
    .min(0)
    .optional()
    .describe("Replay every event with a greater seq first; without it nothing is replayed"),
});

/** Messages the client sends: JSON text frames. */
export const clientMessageSchema = z
  .discriminatedUnion("type", [
    z.strictObject({ type: z.literal("resume"), after: z.number().int().min(0) }),
    z.strictObject({ type: z.literal("ping") }),
  ])
  .meta({ id: "StreamClientMessage", description: "Client → server frames on `GET /v1/stream`" });

/** Messages the server sends: JSON text frames. */
export const serverMessageSchema = z
  .discriminatedUnion("type", [
    z.object({
      type: z.literal("hello"),
      userId: z.uuid(),
      pairId: z.uuid(),
      lastSeq: z.number().int().describe("The pair's latest seq when the socket opened"),
    }),
    z.object({ type: z.literal("event"), event: eventSchema }),
    z.object({ type: z.literal("error"), code: z.string(), message: z.string() }),
    z.object({ type: z.literal("pong") }),
  ])
  .meta({ id: "StreamServerMessage", description: "Server → client frames on `GET /v1/stream`" });

export type ClientMessage = z.infer<typeof clientMessageSchema>;
export type ServerMessage = z.infer<typeof serverMessageSchema>;

/**
 * Close codes (docs/realtime.md publishes this table). 1000–1011 are the
 * protocol's own; 4000–4999 are Kept's.
 */
export const closeCodes = {
  normal: 1000,
  goingAway: 1001, // the server is shutting down: reconnect and resume
  tooManyFrames: 1008, // client frames past the per-socket rate limit (a token bucket)
  tooBig: 1009, // a frame over 64 KiB
  internal: 1011,
  signedOut: 4001, // the login ended (logout, logout-all, password change, account deleted)
  pairEnded: 4004, // sent after the `pair.ended` event
  tooSlow: 4008, // the send buffer passed its bound: reconnect with `after`
} as const;
