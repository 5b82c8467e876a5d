import WebSocket from "ws";
import type { TestApp } from "./app.js";
import type { SignedInUser } from "./users.js";

type Message = { type: string; [key: string]: unknown };

/** A stream client that keeps every frame, so tests can wait for what they expect (never sleep). */
export type StreamClient = {
  ws: WebSocket;
  messages: Message[];
  /** Resolves with the first message (at index ≥ `from`) matching, or rejects after `ms`. */
  waitFor(match: (m: Message) => boolean, ms?: number): Promise<Message>;
  /** Event seqs received so far. */
  seqs(): number[];
  closed: Promise<{ code: number; reason: string }>;
};

export async function listen(t: TestApp): Promise<string> {
  const address = await t.app.listen({ port: 0, host: "127.0.0.1" });
  return address.replace(/^http/, "ws");
}

export async function ticketFor(t: Pick<TestApp, "http">, user: SignedInUser): Promise<string> {
  const response = await t.http.post("/v1/stream/tickets").set(user.auth).expect(201);
  return response.body.ticket;
}

export function openStream(base: string, query: string, headers: Record<string, string> = {}): Promise<StreamClient> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${base}/v1/stream?${query}`, { headers });
    const messages: Message[] = [];
    const waiters: { match: (m: Message) => boolean; resolve: (m: Message) => void }[] = [];
    ws.on("message", (data) => {
      const message = JSON.parse(data.toString()) as Message;
      messages.push(message);
      for (const waiter of [...waiters]) {
        if (waiter.match(message)) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(message);
        }
      }
    });
    const closed = new Promise<{ code: number; reason: string }>((done) =>
      ws.on("close", (code, reason) => done({ code, reason: reason.toString() })),
    );
    ws.on("unexpected-response", (_request, response) => {
      let body = "";
      response.on("data", (chunk: Buffer) => {
        body += chunk.toString();
      });
      response.on("end", () =>
        reject(
          Object.assign(new Error(`refused ${response.statusCode}`), {
            status: response.statusCode,
            body: JSON.parse(body || "{}"),
          }),
        ),
      );
    });
    ws.on("error", (error) => reject(error));
    ws.on("open", () =>
      resolve({
        ws,
        messages,
        closed,
        seqs: () => messages.filter((m) => m.type === "event").map((m) => (m.event as { seq: number }).seq),
        waitFor(match, ms = 5_000) {
          const found = messages.find(match);
          if (found) return Promise.resolve(found);
          return new Promise((resolveWait, rejectWait) => {
            const timer = setTimeout(
              () => rejectWait(new Error(`timed out; got ${JSON.stringify(messages.map((m) => m.type))}`)),
              ms,
            );
            waiters.push({
              match,
              resolve: (m) => {
                clearTimeout(timer);
                resolveWait(m);
              },
            });
          });
        },
      }),
    );
  });
}

export const isEvent = (seq: number) => (m: Message) => m.type === "event" && (m.event as { seq: number }).seq === seq;

/** Expects the upgrade to be refused, answering its status and problem body. */
export async function refused(promise: Promise<StreamClient>): Promise<{ status: number; body: { code: string } }> {
  try {
    const client = await promise;
    client.ws.close();
    throw new Error("the stream opened");
  } catch (error) {
    return error as { status: number; body: { code: string } };
  }
}
