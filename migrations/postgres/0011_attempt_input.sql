-- What each attempt sent (the rendered request or prompt, secrets masked), JSON; NULL for tasks that send nothing.
ALTER TABLE node_attempts ADD COLUMN input TEXT;
