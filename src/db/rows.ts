import { getTableColumns, type InferInsertModel, type InferSelectModel, type SQL, sql, type Table } from "drizzle-orm";

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

/**
 * One row of a raw `INSERT INTO <table> (<columns>) SELECT <values>`, both
 * lists built from the table definition rather than kept by hand: each key
 * of `row` names its column, its value a parameter mapped by the column
 * (as drizzle's own insert does) and cast to the column's type, because an
 * INSERT … SELECT does not take types from its target. `computed` gives
 * some columns an SQL expression instead (a CTE's column). Columns come in
 * the table's order, so the text is the same at every call with the same
 * keys, as a named statement needs.
 */
export function insertSelect<T extends Table>(
  table: T,
  row: Partial<InferInsertModel<T>>,
  computed: Partial<Record<keyof InferInsertModel<T>, SQL>> = {},
): { columns: SQL; values: SQL } {
  const columnsByKey = getTableColumns(table);
  for (const key of [...Object.keys(row), ...Object.keys(computed)]) {
    if (!(key in columnsByKey)) throw new Error(`${key} is not a column of the table`);
  }
  const names: SQL[] = [];
  const values: SQL[] = [];
  for (const [key, column] of Object.entries(columnsByKey)) {
    const expression = (computed as Record<string, SQL | undefined>)[key];
    if (expression) values.push(expression);
    else if (key in row) {
      const value = (row as Record<string, unknown>)[key] ?? null;
      values.push(sql`${sql.param(value, column)}::${sql.raw(column.getSQLType())}`);
    } else continue;
    names.push(sql`${sql.identifier(column.name)}`);
  }
  return { columns: sql`(${sql.join(names, sql`, `)})`, values: sql.join(values, sql`, `) };
}
