-- What a finished run left (its branch, commit and change, as JSON), reported with its
-- outcome; NULL for a run that left nothing to report.
ALTER TABLE workspaces ADD COLUMN output TEXT;
