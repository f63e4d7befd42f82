-- Where rows can fail, every failed row says why, and no ok row carries an error.

-- check: status_and_error_agree
SELECT id, status, error FROM this
WHERE status IS NULL OR (status = 'ok') <> (error IS NULL);
