import type pg from "pg";
import type { Logger } from "pino";

/**
 * Two roles (docs/security.md "Database roles"): the owner, which owns every table
 * and runs migrations, and the service role the API connects as, which owns
 * nothing. The service may read and write rows, but on `events` only
 * `SELECT` and `INSERT`: a leaked service credential cannot rewrite the
 * log, and cannot turn its append-only trigger off (that takes the owner,
 * or a superuser for `session_replication_role`).
 */

export type RoleCredentials = { user: string; password: string };

/** Connection string `url` with another role's credentials. */
export function withCredentials(url: string, role: RoleCredentials): string {
  const parsed = new URL(url);
  parsed.username = encodeURIComponent(role.user);
  parsed.password = encodeURIComponent(role.password);
  return parsed.toString();
}

/**
 * Creates a login role without any special attribute, or resets an existing
 * one to that (and to `password`). Run by a superuser.
 */
export async function ensureLoginRole(admin: pg.ClientBase, role: RoleCredentials): Promise<void> {
  // A failing statement is logged by PostgreSQL with its text, which holds the password.
  await admin.query("SET log_min_error_statement = panic");
  const exists = await admin.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [role.user]);
  await admin.query(
    `${exists.rowCount ? "ALTER" : "CREATE"} ROLE ${admin.escapeIdentifier(role.user)} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD ${admin.escapeLiteral(role.password)}`,
  );
  await admin.query("RESET log_min_error_statement");
}

/**
 * The service role's rights, granted by the owner at the end of every
 * migration run. Explicit grants over every table, then the one exception,
 * rather than `ALTER DEFAULT PRIVILEGES`: default privileges would hand a
 * future append-only table `UPDATE` and `DELETE` silently, and would not
 * repair rights an operator changed by hand; these statements are
 * idempotent and leave the same rights after each run.
 */
export async function grantServiceRole(owner: pg.ClientBase, serviceRole: string): Promise<void> {
  const role = owner.escapeIdentifier(serviceRole);
  await owner.query(`
    GRANT USAGE ON SCHEMA public TO ${role};
    GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${role};
    REVOKE TRUNCATE, REFERENCES, TRIGGER ON ALL TABLES IN SCHEMA public FROM ${role};
    REVOKE UPDATE, DELETE ON events FROM ${role};
    GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ${role};
    GRANT USAGE ON SCHEMA drizzle TO ${role};
    GRANT SELECT ON drizzle.__drizzle_migrations TO ${role};
  `);
}

export async function currentRole(executor: pg.Pool | pg.ClientBase): Promise<string> {
  const { rows } = await executor.query<{ role: string }>("SELECT current_user AS role");
  return rows[0]?.role as string;
}

/** What this connection's role could use to rewrite history: empty for a proper service role. */
export async function historyRewriteRights(pool: pg.Pool): Promise<string[]> {
  const { rows } = await pool.query<{ superuser: boolean; owner: boolean; privileges: string[] }>(`
    SELECT r.rolsuper AS superuser,
           coalesce(pg_has_role(current_user, e.relowner, 'MEMBER'), false) AS owner,
           array_remove(ARRAY[
             CASE WHEN has_table_privilege(e.oid, 'UPDATE') THEN 'UPDATE on events' END,
             CASE WHEN has_table_privilege(e.oid, 'DELETE') THEN 'DELETE on events' END,
             CASE WHEN has_table_privilege(e.oid, 'TRUNCATE') THEN 'TRUNCATE on events' END
           ], NULL) AS privileges
    FROM pg_roles r LEFT JOIN pg_class e ON e.oid = to_regclass('events')
    WHERE r.rolname = current_user`);
  const row = rows[0];
  if (!row) return [];
  const rights = [
    ...(row.superuser ? ["superuser"] : []),
    ...(row.owner && !row.superuser ? ["owner of events"] : []),
    ...(row.superuser || row.owner ? [] : row.privileges),
  ];
  if (!row.superuser) {
    // PostgreSQL 15+ can grant this one parameter to an ordinary role.
    const granted = await pool
      .query<{ granted: boolean }>("SELECT has_parameter_privilege('session_replication_role', 'SET') AS granted")
      .then(
        (result) => result.rows[0]?.granted === true,
        () => false,
      );
    if (granted) rights.push("SET session_replication_role");
  }
  return rights;
}

/** One warning at start when the service's own role could rewrite history. */
export async function warnIfHistoryCanBeRewritten(pool: pg.Pool, logger: Logger): Promise<void> {
  const rights = await historyRewriteRights(pool);
  if (rights.length === 0) return;
  logger.warn(
    { databaseRole: await currentRole(pool), rights },
    "the service's database role could rewrite history: connect DATABASE_URL as a role that owns nothing (SELECT and INSERT on events) and run migrations as the owner with KEPT_MIGRATE_DATABASE_URL",
  );
}
