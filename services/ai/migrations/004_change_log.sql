-- Per-user change log behind tm-ai's in-memory task sets (services/ai/tsets.h). Every bump
-- of a user's generation (user_state.gen) records the task it was for, in a ring of 256
-- slots per user (slot = gen % 256, written in the same transaction as the bump): a
-- replica holding a user's tasks at generation g reads just the tasks changed in
-- (g, current] instead of all of them, whichever replica applied the change. The ring keeps
-- the table bounded without pruning; a replica more than 256 changes behind loads anew.
CREATE TABLE user_changes (
    user_id uuid NOT NULL,
    slot int NOT NULL,
    gen bigint NOT NULL,
    task_id uuid NOT NULL,
    PRIMARY KEY (user_id, slot)
);
