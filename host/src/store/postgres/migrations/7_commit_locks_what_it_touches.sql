-- Commits of the previous function still running finish first (they hold
-- usage rows), so none writes a version the sequence below hands out again.
LOCK TABLE plugin_usage IN EXCLUSIVE MODE;
DROP FUNCTION plinth_commit(text, boolean, text[], bigint[], jsonb, text[], bytea[], text[],
    bigint, bigint, bigint, bigint, text, text, bigint, bigint, text, bigint, bigint);
-- Versions come from one sequence, so they never repeat for a key (not even
-- after it was deleted), whichever commit wrote it. It starts far above
-- every version the previous function wrote or could have written.
CREATE SEQUENCE plugin_storage_versions;
SELECT setval('plugin_storage_versions', GREATEST(
    (SELECT COALESCE(MAX(version), 0) FROM plugin_storage),
    (SELECT COALESCE(MAX(generation), 0) FROM plugin_usage)) + (1::bigint << 32), false);
-- Its statements are planned once per connection (generic plans), not at
-- every call. A plugin the statistics have not seen grow (between two
-- ANALYZEs) looks as if it had a few rows, so a lookup of a list of keys was
-- planned as a scan of all of the plugin's rows: each key is looked up on
-- its own (`LATERAL … LIMIT 1`, a plan no estimate changes).
CREATE FUNCTION plinth_commit(
    p_plugin text, p_check_storage boolean,
    p_read_keys text[], p_read_versions bigint[], p_listed jsonb,
    p_put_keys text[], p_put_values bytea[], p_deleted text[],
    p_quota_bytes bigint, p_quota_keys bigint, p_lock_timeout_ms bigint,
    p_delivery bigint, p_event text, p_entity_id text, p_at bigint, p_duration_us bigint,
    p_error text, p_trim_every bigint, p_kept bigint,
    OUT outcome text, OUT key text, OUT bytes bigint, OUT keys bigint, OUT generation bigint)
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
#variable_conflict use_column
DECLARE
    v_seq bigint;
    v_changed text;
    v_deleted text;
    v_listed jsonb;
    v_lock record;
    v_started timestamptz := clock_timestamp();
    d_bytes bigint;
    d_keys bigint;
BEGIN
    outcome := 'ok';
    -- The locks below are taken when each statement starts, and its snapshot
    -- after them, so that it sees the commits it waited for: read committed.
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'plinth_commit needs read committed transactions, not %', current_setting('transaction_isolation')
            USING HINT = 'Plinth sets default_transaction_isolation on its connections; a pooler must keep it';
    END IF;
    PERFORM set_config('lock_timeout', p_lock_timeout_ms::text, true);
    BEGIN
    IF p_delivery IS NOT NULL THEN
        WITH removed AS (DELETE FROM hook_deliveries WHERE id = p_delivery AND NOT done RETURNING id)
        INSERT INTO hook_records (plugin_id, event, entity_id, "at", duration_us, error)
        SELECT p_plugin, p_event, p_entity_id, p_at, p_duration_us, p_error FROM removed
        RETURNING seq INTO v_seq;
        IF v_seq IS NULL THEN
            outcome := 'delivered';
            RETURN;
        END IF;
        IF v_seq % p_trim_every = 0 THEN
            DELETE FROM hook_records WHERE seq IN (
                SELECT seq FROM hook_records
                WHERE seq < (SELECT seq FROM hook_records ORDER BY seq DESC OFFSET p_kept - 1 LIMIT 1)
                FOR UPDATE SKIP LOCKED);
        END IF;
    END IF;
    IF NOT p_check_storage THEN
        RETURN;
    END IF;
    -- Only what the commit touches is locked, until it ends: the plugin
    -- shared (alone when the commit listed a prefix, which a write of any
    -- key under it would change), then each key it read or wrote (alone when
    -- written, shared when only read), in hash order so that no two commits
    -- wait for each other in a cycle. The plugin's lock is in the two-key
    -- space, so it never meets a key's hash.
    IF jsonb_array_length(COALESCE(p_listed, '[]'::jsonb)) > 0 THEN
        PERFORM pg_advisory_xact_lock(hashtext('plinth storage'), hashtext(p_plugin));
    ELSE
        PERFORM pg_advisory_xact_lock_shared(hashtext('plinth storage'), hashtext(p_plugin));
    END IF;
    FOR v_lock IN
        SELECT hashtextextended(k.name, hashtextextended(p_plugin, 0)) AS id, bool_or(k.written) AS written
        FROM (SELECT unnest(p_read_keys), false
              UNION ALL SELECT unnest(p_put_keys), true
              UNION ALL SELECT unnest(p_deleted), true) AS k (name, written)
        GROUP BY 1 ORDER BY 1
    LOOP
        -- One budget for all of the commit's lock waits, not one per key.
        PERFORM set_config('lock_timeout',
            GREATEST(1, p_lock_timeout_ms - (extract(epoch FROM clock_timestamp() - v_started) * 1000)::bigint)::text, true);
        IF v_lock.written THEN
            PERFORM pg_advisory_xact_lock(v_lock.id);
        ELSE
            PERFORM pg_advisory_xact_lock_shared(v_lock.id);
        END IF;
    END LOOP;
    IF NOT EXISTS (SELECT 1 FROM plugin_usage u WHERE u.plugin_id = p_plugin) THEN
        -- Stored before this backend kept usage: counted once. A commit
        -- racing this one counts the same rows, and its row loses.
        INSERT INTO plugin_usage (plugin_id, bytes, keys, generation)
            SELECT p_plugin, COALESCE(SUM(octet_length(s.key) + octet_length(s.value)), 0)::bigint, COUNT(*), 0
            FROM plugin_storage s WHERE s.plugin_id = p_plugin
            ON CONFLICT (plugin_id) DO NOTHING;
    END IF;
    IF COALESCE(array_length(p_read_keys, 1), 0) > 0 THEN
        SELECT r.name INTO v_changed
            FROM unnest(p_read_keys, p_read_versions) AS r (name, version)
            LEFT JOIN LATERAL (SELECT s.version FROM plugin_storage s
                               WHERE s.plugin_id = p_plugin AND s.key = r.name LIMIT 1) AS s ON true
            WHERE s.version IS DISTINCT FROM r.version
            LIMIT 1;
        IF v_changed IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'PLCNF', MESSAGE = v_changed;
        END IF;
    END IF;
    FOR v_listed IN SELECT value FROM jsonb_array_elements(COALESCE(p_listed, '[]'::jsonb)) LOOP
        IF (SELECT COALESCE(jsonb_agg(s.key ORDER BY s.key), '[]'::jsonb) FROM plugin_storage s
            WHERE s.plugin_id = p_plugin AND s.key >= (v_listed->>0)
              AND left(s.key, char_length(v_listed->>0)) = (v_listed->>0)) <> (v_listed->1) THEN
            RAISE EXCEPTION USING ERRCODE = 'PLCNF', MESSAGE = (v_listed->>0) || '*';
        END IF;
    END LOOP;
    IF COALESCE(array_length(p_put_keys, 1), 0) + COALESCE(array_length(p_deleted, 1), 0) = 0 THEN
        RETURN;
    END IF;
    -- What the writes change: the old rows' sizes out, the new ones in.
    SELECT COALESCE(SUM(octet_length(w.key) + octet_length(w.value)), 0), COUNT(*)
        INTO d_bytes, d_keys FROM unnest(p_put_keys, p_put_values) AS w (key, value);
    SELECT d_bytes - COALESCE(SUM(s.size), 0), d_keys - COUNT(s.size)
        INTO d_bytes, d_keys FROM unnest(p_put_keys || p_deleted) AS w (name)
        CROSS JOIN LATERAL (SELECT octet_length(s.key) + octet_length(s.value) AS size FROM plugin_storage s
                            WHERE s.plugin_id = p_plugin AND s.key = w.name LIMIT 1) AS s;
    INSERT INTO plugin_storage (plugin_id, key, value, version)
        SELECT p_plugin, w.key, w.value, nextval('plugin_storage_versions')
        FROM unnest(p_put_keys, p_put_values) AS w (key, value)
        ON CONFLICT (plugin_id, key) DO UPDATE SET value = excluded.value, version = excluded.version;
    FOREACH v_deleted IN ARRAY COALESCE(p_deleted, '{}') LOOP
        DELETE FROM plugin_storage s WHERE s.plugin_id = p_plugin AND s.key = v_deleted;
    END LOOP;
    -- The usage moves by the delta, checked against the quota in the same
    -- statement: its row is locked only from here to the commit's end.
    PERFORM set_config('lock_timeout',
        GREATEST(1, p_lock_timeout_ms - (extract(epoch FROM clock_timestamp() - v_started) * 1000)::bigint)::text, true);
    UPDATE plugin_usage u SET bytes = GREATEST(u.bytes + d_bytes, 0),
        keys = GREATEST(u.keys + d_keys, 0), generation = u.generation + 1
        WHERE u.plugin_id = p_plugin
          AND ((d_bytes <= 0 AND d_keys <= 0)
               OR (GREATEST(u.bytes + d_bytes, 0) <= p_quota_bytes AND GREATEST(u.keys + d_keys, 0) <= p_quota_keys))
        RETURNING u.bytes, u.keys, u.generation INTO bytes, keys, generation;
    IF NOT FOUND THEN
        SELECT GREATEST(u.bytes + d_bytes, 0), GREATEST(u.keys + d_keys, 0) INTO bytes, keys
            FROM plugin_usage u WHERE u.plugin_id = p_plugin;
        RAISE EXCEPTION USING ERRCODE = 'PLQTA', MESSAGE = bytes::text || ' ' || keys::text;
    END IF;
    EXCEPTION
        WHEN SQLSTATE 'PLCNF' THEN
            outcome := 'conflict';
            key := SQLERRM;
        WHEN SQLSTATE 'PLQTA' THEN
            outcome := 'quota';
            bytes := split_part(SQLERRM, ' ', 1)::bigint;
            keys := split_part(SQLERRM, ' ', 2)::bigint;
    END;
END
$$;
