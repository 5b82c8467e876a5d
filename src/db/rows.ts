import { getTableColumns, type InferSelectModel, type SQL, sql, type Table } from "drizzle-orm";

/** A row that a raw statement answered (`RETURNING *`: column names, driver values), as drizzle's own select would. */
export function rowFrom<T extends Table>(table: T, raw: Record<string, unknown>): InferSelectModel<T> {
  const row: Record<string, unknown> = {};
  for (const [key, column] of Object.entries(getTableColumns(table))) {
    const value = raw[column.name];
    row[key] = value === null || value === undefined ? null : column.mapFromDriverValue(value);
  }
  return row as InferSelectModel<T>;
}

/**
 * The table's columns by name, for a raw statement's select list or
 * RETURNING: a fixed list (never `*`) keeps a prepared statement's result
 * type the same when a migration adds a column.
 */
export function columnList(table: Table, alias?: string): SQL {
  const prefix = alias ? `${alias}.` : "";
  return sql.raw(
    Object.values(getTableColumns(table))
      .map((column) => `${prefix}"${column.name}"`)
      .join(", "),
  );
}
