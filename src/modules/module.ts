import type { FastifyInstance } from "fastify";
import type { AccessHook } from "../http/hooks.js";
import type { SweepTask } from "../sweep.js";
import type { ExportPart, WordsEraser } from "./account/index.js";
import type { PairEndingHandler } from "./pairs/index.js";

/** What app.ts hands every module's plugin (the member-only guard of `{pairId}` routes). */
export type ModuleRouteOptions = { requireMember: AccessHook };

/** A module's part of taking one's data along (export) and of deleting an account. */
export type AccountData = { exportParts: ExportPart[]; eraseWordsOf: WordsEraser };

/**
 * The one shape every `createXModule(deps)` answers (shared/DESIGN.md
 * "Architecture"). app.ts lists the modules in dependency order and
 * registers these parts by one loop over that list. What a module exposes
 * for the modules after it (its `service`, the read-model `sources`…) are
 * extra fields, typed by its own `index.ts` (`satisfies KeptModule`).
 */
export type KeptModule = {
  name: string;
  /** The module's routes (and hooks), registered with the same options for every module. */
  plugin: (app: FastifyInstance, options: ModuleRouteOptions) => Promise<void>;
  /** Time-based work, run by the sweeper in this order. */
  sweepTasks?: SweepTask[];
  /** The module's part of the leaving rule, run inside the leave transaction. */
  onPairEnding?: PairEndingHandler;
  accountData?: AccountData;
};

/** Checks a module against the shape and keeps its extra fields' types (`satisfies` would refuse them as excess). */
export function keptModule<M extends KeptModule>(module: M): M {
  return module;
}
