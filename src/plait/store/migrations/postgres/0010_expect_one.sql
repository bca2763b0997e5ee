-- A statement that must change exactly one row says so itself: SELECT plait_expect_one(n,
-- what) raises SQLSTATE PX409 (the store's ConflictError: the change runs again) unless n is
-- 1. Checked in Python instead, the count had to come back before COMMIT could be sent: a
-- round trip more per transaction (store/pgtxn.py).
CREATE OR REPLACE FUNCTION plait_expect_one(n bigint, what text) RETURNS bigint
LANGUAGE plpgsql AS $$
BEGIN
    IF n <> 1 THEN
        RAISE EXCEPTION '% changed concurrently', what USING ERRCODE = 'PX409';
    END IF;
    RETURN n;
END
$$;
