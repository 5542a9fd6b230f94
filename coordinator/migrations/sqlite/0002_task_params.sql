-- 0002: what each task of a multi-task job does (grid cell, gallery pair,
-- style targets, assembly), as the planner decided it: a protobuf
-- `stylefarm.v1.TaskParams`, empty for a task that does the whole spec.
ALTER TABLE tasks ADD COLUMN params BLOB NOT NULL DEFAULT x'';
