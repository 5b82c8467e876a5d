import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type JWK } from "jose";
import { z } from "zod";

type Key = Awaited<ReturnType<typeof importJWK>>;

export type SigningKey = { kid: string; alg: "EdDSA" | "ES256"; privateKey: Key; publicKey: Key; publicJwk: JWK };

/** The keys tokens are signed with: the first signs, every one verifies and is published. */
export type KeyRing = { signer: SigningKey; byKid: Map<string, SigningKey>; jwks: { keys: JWK[] } };

const privateJwkSchema = z
  .array(
    z.union([
      z.object({ kty: z.literal("OKP"), crv: z.literal("Ed25519"), x: z.string(), d: z.string() }).loose(),
      z.object({ kty: z.literal("EC"), crv: z.literal("P-256"), x: z.string(), y: z.string(), d: z.string() }).loose(),
    ]),
  )
  .min(1);

export type PrivateJwk = z.infer<typeof privateJwkSchema>[number];

export async function generatePrivateJwk(): Promise<PrivateJwk> {
  const { privateKey } = await generateKeyPair("Ed25519", { extractable: true });
  return privateJwkSchema.parse([await exportJWK(privateKey)])[0] as PrivateJwk;
}

async function loadKey(jwk: PrivateJwk): Promise<SigningKey> {
  const alg = jwk.kty === "OKP" ? "EdDSA" : "ES256";
  const { d: _private, ...publicPart } = jwk;
  const kid = await calculateJwkThumbprint(publicPart as JWK);
  const publicJwk: JWK = { ...(publicPart as JWK), kid, alg, use: "sig" };
  return {
    kid,
    alg,
    privateKey: await importJWK(jwk as JWK, alg),
    publicKey: await importJWK(publicPart as JWK, alg),
    publicJwk,
  };
}

export async function keyRingFrom(jwks: PrivateJwk[]): Promise<KeyRing> {
  const keys = await Promise.all(jwks.map(loadKey));
  const signer = keys[0];
  if (!signer) throw new Error("at least one signing key is required");
  return { signer, byKid: new Map(keys.map((k) => [k.kid, k])), jwks: { keys: keys.map((k) => k.publicJwk) } };
}

export function parsePrivateKeys(json: string, setting: string): PrivateJwk[] {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new Error(`Invalid configuration: ${setting}: is not JSON`);
  }
  const parsed = privateJwkSchema.safeParse(value);
  if (!parsed.success)
    throw new Error(`Invalid configuration: ${setting}: must be a JSON array of private Ed25519 or P-256 JWKs`);
  return parsed.data;
}

/** Reads the generated key from the data folder, creating it on first start (file mode 600). */
export async function loadOrCreateKeyFile(dataDir: string): Promise<PrivateJwk[]> {
  const file = path.join(dataDir, "signing-keys.json");
  if (existsSync(file)) return parsePrivateKeys(await readFile(file, "utf8"), file);
  await mkdir(dataDir, { recursive: true });
  const keys = [await generatePrivateJwk()];
  try {
    await writeFile(file, `${JSON.stringify(keys)}\n`, { mode: 0o600, flag: "wx" });
  } catch (error) {
    // Another instance sharing the folder wrote it first: use theirs.
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return parsePrivateKeys(await readFile(file, "utf8"), file);
    throw error;
  }
  return keys;
}
