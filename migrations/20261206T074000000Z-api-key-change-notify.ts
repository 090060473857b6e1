import { sql, type Kysely } from 'kysely';

/**
 * Every change to an API key that authentication depends on (revocation, hash, role, organization, prefix,
 * name, deletion) sends `NOTIFY api_keys_changed` from a trigger, so in the same transaction as the change
 * whichever path made it (the admin API, the CLI, plain SQL). API processes cache verified key rows only while
 * they listen on this channel and drop them on every notification (src/http/api-key-cache.ts). Recording a
 * key's use (`last_used_at`) notifies nobody. The payload is the key's public prefix. API processes also send
 * probes on the channel (`probe:<nonce>`, src/storage/pg-listener.ts) to prove the notifications reach them,
 * and keep their cache off while the update and delete triggers are missing or disabled.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create function api_keys_notify_change() returns trigger language plpgsql as $$
    begin
      if tg_op = 'TRUNCATE' then
        perform pg_notify('api_keys_changed', '');
      elsif tg_op = 'DELETE' then
        perform pg_notify('api_keys_changed', old.prefix);
      else
        perform pg_notify('api_keys_changed', new.prefix);
        if new.prefix is distinct from old.prefix then
          perform pg_notify('api_keys_changed', old.prefix);
        end if;
      end if;
      return null;
    end
    $$`.execute(db);
  await sql`
    create trigger api_keys_notify_update after update on api_keys for each row
    when ((old.key_hash, old.prefix, old.role, old.organization_id, old.revoked_at, old.name)
      is distinct from (new.key_hash, new.prefix, new.role, new.organization_id, new.revoked_at, new.name))
    execute function api_keys_notify_change()`.execute(db);
  await sql`create trigger api_keys_notify_delete after delete on api_keys for each row execute function api_keys_notify_change()`.execute(
    db,
  );
  await sql`create trigger api_keys_notify_truncate after truncate on api_keys for each statement execute function api_keys_notify_change()`.execute(
    db,
  );
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop trigger if exists api_keys_notify_truncate on api_keys`.execute(db);
  await sql`drop trigger if exists api_keys_notify_delete on api_keys`.execute(db);
  await sql`drop trigger if exists api_keys_notify_update on api_keys`.execute(db);
  await sql`drop function if exists api_keys_notify_change()`.execute(db);
}
