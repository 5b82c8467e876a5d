import { getTableColumns, type InferSelectModel, type Table } from "drizzle-orm";

/** A row that a raw statement answered (`RETURNING *`: column names, driver values), as drizzle's own select would. */
export function rowFrom<T extends Table>(table: T, raw: Record<string, unknown>): InferSelectModel<T> {
  const row: Record<string, unknown> = {};
  for (const [key, column] of Object.entries(getTableColumns(table))) {
    const value = raw[column.name];
    row[key] = value === null || value === undefined ? null : column.mapFromDriverValue(value);
  }
  return row as InferSelectModel<T>;
}
