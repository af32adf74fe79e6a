-- Where each workspace's run stands on this node, so a restarted agent neither runs a
-- session twice nor loses an outcome it could not report: 'running' (a session was
-- started), 'finished' (it ended; `outcome` and `reason` wait to be reported). A run whose
-- outcome was reported and whose rows were all delivered is deleted with its token.
ALTER TABLE workspaces ADD COLUMN state TEXT NOT NULL DEFAULT 'running';
ALTER TABLE workspaces ADD COLUMN outcome TEXT;
ALTER TABLE workspaces ADD COLUMN reason TEXT;
