CREATE FUNCTION plinth_commit(
    p_plugin text, p_check_storage boolean,
    p_read_keys text[], p_read_versions bigint[], p_listed jsonb,
    p_put_keys text[], p_put_values bytea[], p_deleted text[],
    p_quota_bytes bigint, p_quota_keys bigint, p_lock_timeout_ms bigint,
    p_delivery bigint, p_event text, p_entity_id text, p_at bigint, p_duration_us bigint,
    p_error text, p_trim_every bigint, p_kept bigint,
    OUT outcome text, OUT key text, OUT bytes bigint, OUT keys bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_seq bigint;
    v_generation bigint;
    v_seen bigint;
    v_listed jsonb;
    v_bytes bigint;
    v_keys bigint;
    d_bytes bigint;
    d_keys bigint;
    i integer;
BEGIN
    outcome := 'ok';
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
    -- Commits of one plugin, on any node, run one after another from here;
    -- each statement below sees every commit that came before.
    SELECT u.bytes, u.keys, u.generation INTO v_bytes, v_keys, v_generation
        FROM plugin_usage u WHERE u.plugin_id = p_plugin FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO plugin_usage (plugin_id, bytes, keys, generation)
            SELECT p_plugin, COALESCE(SUM(octet_length(s.key) + octet_length(s.value)), 0)::bigint,
                   COUNT(*), COALESCE(MAX(s.version), 0)
            FROM plugin_storage s WHERE s.plugin_id = p_plugin
            ON CONFLICT (plugin_id) DO NOTHING;
        SELECT u.bytes, u.keys, u.generation INTO v_bytes, v_keys, v_generation
            FROM plugin_usage u WHERE u.plugin_id = p_plugin FOR UPDATE;
    END IF;
    FOR i IN 1 .. COALESCE(array_length(p_read_keys, 1), 0) LOOP
        v_seen := NULL;
        SELECT s.version INTO v_seen FROM plugin_storage s
            WHERE s.plugin_id = p_plugin AND s.key = p_read_keys[i];
        IF v_seen IS DISTINCT FROM p_read_versions[i] THEN
            RAISE EXCEPTION USING ERRCODE = 'PLCNF', MESSAGE = p_read_keys[i];
        END IF;
    END LOOP;
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
    SELECT d_bytes - COALESCE(SUM(octet_length(s.key) + octet_length(s.value)), 0), d_keys - COUNT(*)
        INTO d_bytes, d_keys FROM plugin_storage s
        WHERE s.plugin_id = p_plugin AND (s.key = ANY(p_put_keys) OR s.key = ANY(p_deleted));
    IF (d_bytes > 0 OR d_keys > 0)
       AND (GREATEST(v_bytes + d_bytes, 0) > p_quota_bytes OR GREATEST(v_keys + d_keys, 0) > p_quota_keys) THEN
        RAISE EXCEPTION USING ERRCODE = 'PLQTA',
            MESSAGE = GREATEST(v_bytes + d_bytes, 0)::text || ' ' || GREATEST(v_keys + d_keys, 0)::text;
    END IF;
    INSERT INTO plugin_storage (plugin_id, key, value, version)
        SELECT p_plugin, w.key, w.value, v_generation + 1
        FROM unnest(p_put_keys, p_put_values) AS w (key, value)
        ON CONFLICT (plugin_id, key) DO UPDATE SET value = excluded.value, version = excluded.version;
    DELETE FROM plugin_storage s WHERE s.plugin_id = p_plugin AND s.key = ANY(p_deleted);
    UPDATE plugin_usage u SET bytes = GREATEST(v_bytes + d_bytes, 0),
        keys = GREATEST(v_keys + d_keys, 0), generation = v_generation + 1
        WHERE u.plugin_id = p_plugin;
    bytes := GREATEST(v_bytes + d_bytes, 0);
    keys := GREATEST(v_keys + d_keys, 0);
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