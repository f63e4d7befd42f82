-- Map stages turn each input row into exactly one output row, joined by id.

-- check: ids_equal_input_ids_in_order
-- Shard i holds exactly input shard i's ids in the same order (the store writes every shard in
-- id order), so the rows line up by position. With the input's ids unique (checked where they
-- were made) this node's are too. No hashing: one pass over both id columns.
SELECT t.id, i.id AS input_id FROM this t POSITIONAL JOIN input i WHERE t.id IS DISTINCT FROM i.id;
