import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { chmod, mkdtemp, readdir, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { freePort } from "../../src/db/embedded.js";

/** The repository root: children run from here so `--import tsx` and `migrations/` resolve. */
export const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

/** Settings Kept reads; the runner's own values never leak into a child. */
const KEPT_VARIABLE = /^(PORT|HOST|DATABASE_URL|CORS_ORIGINS|LOG_LEVEL|KEPT_.*)$/;

export type Exit = { code: number | null; signal: NodeJS.Signals | null };

export type KeptProcess = {
  child: ChildProcess;
  /** Set when the child was started with `startService`. */
  port: number;
  baseUrl: string;
  stdout(): string;
  stderr(): string;
  /** Resolves once the process has exited and its output is fully read. */
  exited: Promise<Exit>;
  /** Rejects after `timeoutMs`, with the output so far, if the process is still running. */
  waitForExit(timeoutMs?: number): Promise<Exit>;
  /** Polls `path` until it answers `status`; rejects early, with stderr, if the process exits first. */
  waitFor(path: string, status: number, timeoutMs?: number): Promise<void>;
  waitForReady(timeoutMs?: number): Promise<void>;
  fetch(path: string, init?: RequestInit): Promise<Response>;
  /** Sends `signal` (SIGTERM by default) and waits for the exit. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<Exit>;
};

const running = new Set<KeptProcess>();
const tempDirs = new Set<string>();

function childEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const base = Object.fromEntries(Object.entries(process.env).filter(([name]) => !KEPT_VARIABLE.test(name)));
  return { ...base, LOG_LEVEL: "warn", HOST: "127.0.0.1", ...env };
}

function describeOutput(p: Pick<KeptProcess, "stdout" | "stderr">): string {
  return `\n--- stderr ---\n${p.stderr().slice(-4000)}\n--- stdout ---\n${p.stdout().slice(-4000)}`;
}

/** Runs `node --import tsx <script>` from the repository root, in its own process group. */
export function spawnScript(script: string, env: Record<string, string>, port = 0): KeptProcess {
  const child = spawn(process.execPath, ["--import", "tsx", script], {
    cwd: repoRoot,
    env: childEnv(env),
    stdio: ["ignore", "pipe", "pipe"],
    // Its own group, so cleanup can stop it together with any PostgreSQL it started.
    detached: true,
  });
  let out = "";
  let err = "";
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
    out += chunk;
  });
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    err += chunk;
  });
  const exited = new Promise<Exit>((resolve) => {
    child.once("error", (error) => {
      err += `spawn failed: ${error.message}\n`;
      resolve({ code: null, signal: null });
    });
    child.once("close", (code, signal) => resolve({ code, signal }));
  });
  const baseUrl = `http://127.0.0.1:${port}`;

  const p: KeptProcess = {
    child,
    port,
    baseUrl,
    stdout: () => out,
    stderr: () => err,
    exited,
    async waitForExit(timeoutMs = 30_000) {
      const timer = delay(timeoutMs, "timeout" as const);
      const result = await Promise.race([exited, timer]);
      if (result === "timeout") {
        throw new Error(`${script} still running after ${timeoutMs} ms${describeOutput(p)}`);
      }
      return result;
    },
    async waitFor(urlPath, status, timeoutMs = 90_000) {
      const deadline = Date.now() + timeoutMs;
      let gone = false;
      void exited.then(() => {
        gone = true;
      });
      let last = "no answer yet";
      while (Date.now() < deadline) {
        if (gone) {
          const { code, signal } = await exited;
          throw new Error(
            `${script} exited (code ${code}, signal ${signal}) before ${urlPath} answered ${status}${describeOutput(p)}`,
          );
        }
        try {
          const response = await fetch(`${baseUrl}${urlPath}`, { signal: AbortSignal.timeout(5_000) });
          await response.arrayBuffer();
          if (response.status === status) return;
          last = `status ${response.status}`;
        } catch (error) {
          last = (error as Error).message;
        }
        await delay(100);
      }
      throw new Error(`${urlPath} did not answer ${status} within ${timeoutMs} ms (last: ${last})${describeOutput(p)}`);
    },
    waitForReady(timeoutMs) {
      return p.waitFor("/readyz", 200, timeoutMs);
    },
    fetch(urlPath, init) {
      return fetch(`${baseUrl}${urlPath}`, { signal: AbortSignal.timeout(10_000), ...init });
    },
    async stop(signal = "SIGTERM", timeoutMs = 30_000) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return p.waitForExit(timeoutMs);
    },
  };
  running.add(p);
  void exited.then(() => running.delete(p));
  return p;
}

/** Starts the service (`src/server.ts`) on a free port of its own. */
export async function startService(env: Record<string, string> = {}): Promise<KeptProcess> {
  const port = await freePort();
  return spawnScript("src/server.ts", { PORT: String(port), ...env }, port);
}

/** Runs a script to its end and answers its exit and output. */
export async function runScript(
  script: string,
  env: Record<string, string>,
  timeoutMs = 60_000,
): Promise<Exit & { stdout: string; stderr: string }> {
  const p = spawnScript(script, env);
  const exit = await p.waitForExit(timeoutMs);
  return { ...exit, stdout: p.stdout(), stderr: p.stderr() };
}

/** A fresh folder under the OS temporary folder that the `postgres` user can enter; removed by `cleanUp`. */
export async function makeTempDir(prefix = "kept-server-test-"): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  await chmod(dir, 0o755);
  tempDirs.add(dir);
  return dir;
}

/** Kills every child still running, with its whole process group (its PostgreSQL included). */
export async function killAll(): Promise<void> {
  await Promise.all(
    [...running].map(async (p) => {
      const pid = p.child.pid;
      if (pid !== undefined && p.child.exitCode === null && p.child.signalCode === null) {
        try {
          process.kill(-pid, "SIGKILL");
        } catch {
          // Already gone.
        }
      }
      await p.waitForExit(10_000).catch(() => undefined);
    }),
  );
}

/**
 * A PostgreSQL left behind in one of our folders (its Kept was killed while
 * starting, say) is stopped: only when its command line names that folder.
 */
function stopLeftoverPostgres(clusterDir: string): void {
  const pidFile = path.join(clusterDir, "postmaster.pid");
  if (!existsSync(pidFile)) return;
  const pid = Number.parseInt(readFileSync(pidFile, "utf8").split("\n")[0] ?? "", 10);
  if (!Number.isInteger(pid) || pid <= 0) return;
  try {
    const commandLine = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    if (commandLine.includes(clusterDir)) process.kill(pid, "SIGKILL");
  } catch {
    // Not running (or no /proc): nothing to stop.
  }
}

async function findClusterDirs(dir: string, depth: number): Promise<string[]> {
  if (depth < 0) return [];
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const found: string[] = [];
  for (const entry of entries) {
    if (!entry.isDirectory()) continue;
    const child = path.join(dir, entry.name);
    if (entry.name === "postgres") found.push(child);
    else found.push(...(await findClusterDirs(child, depth - 1)));
  }
  return found;
}

/** Kills what is still running, stops any PostgreSQL left in our folders, and removes the folders. */
export async function cleanUp(): Promise<void> {
  await killAll();
  for (const dir of tempDirs) {
    for (const clusterDir of await findClusterDirs(dir, 3)) stopLeftoverPostgres(clusterDir);
    await rm(dir, { recursive: true, force: true, maxRetries: 5 });
    tempDirs.delete(dir);
  }
}

// Last resort if the worker exits without running hooks: no child outlives it.
process.once("exit", () => {
  for (const p of running) {
    const pid = p.child.pid;
    if (pid === undefined || p.child.exitCode !== null || p.child.signalCode !== null) continue;
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
});
