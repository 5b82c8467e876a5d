import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../src/config.js";

describe("configuration", () => {
  it("has the documented defaults", () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      port: 3000,
      host: "0.0.0.0",
      databaseUrl: undefined,
      corsOrigins: [],
      migrateOnStart: true,
      sweepIntervalMs: 15_000,
      logLevel: "info",
    });
    expect(config.dataDir.endsWith(".kept")).toBe(true);
  });

  it("stops on a wrong value with one line naming the variable", () => {
    for (const [name, value] of [
      ["PORT", "eighty"],
      ["DATABASE_URL", "mysql://x"],
      ["CORS_ORIGINS", "not a url"],
      ["KEPT_MIGRATE_ON_START", "maybe"],
      ["LOG_LEVEL", "loud"],
    ] as const) {
      let error: unknown;
      try {
        loadConfig({ [name]: value });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toContain(name);
      expect((error as Error).message).not.toContain("\n");
    }
  });

  it("takes KEPT_MIGRATE_DATABASE_URL (the owner) only beside DATABASE_URL (the service role)", () => {
    expect(
      loadConfig({
        DATABASE_URL: "postgres://kept_service:s@db/kept",
        KEPT_MIGRATE_DATABASE_URL: "postgres://kept_owner:o@db/kept",
      }),
    ).toMatchObject({
      databaseUrl: "postgres://kept_service:s@db/kept",
      migrateDatabaseUrl: "postgres://kept_owner:o@db/kept",
    });
    expect(loadConfig({ DATABASE_URL: "postgres://kept:k@db/kept" }).migrateDatabaseUrl).toBeUndefined();
    expect(() => loadConfig({ KEPT_MIGRATE_DATABASE_URL: "postgres://kept_owner:o@db/kept" })).toThrow(
      /^Invalid configuration: KEPT_MIGRATE_DATABASE_URL: /,
    );
    expect(() => loadConfig({ DATABASE_URL: "postgres://a@db/k", KEPT_MIGRATE_DATABASE_URL: "mysql://x" })).toThrow(
      ConfigError,
    );
  });

  it("parses the CORS allow-list", () => {
    expect(loadConfig({ CORS_ORIGINS: "https://a.example, https://b.example" }).corsOrigins).toEqual([
      "https://a.example",
      "https://b.example",
    ]);
  });
});
