import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "postgresql",
  schema: "./src/db/schema/index.ts",
  out: "./migrations",
  // Only `drizzle-kit migrate`/`push` connect; `generate` works from the schema alone.
  dbCredentials: { url: process.env.DATABASE_URL ?? "postgres://localhost:5432/kept" },
});
