//! The sweep's metric, as a CloudWatch embedded-metric-format log line: the Lambda's log
//! becomes the metric with no API call and no extra grant.

use serde_json::{Value, json};

use crate::domain::sweep::SweepReport;

/// Where the alarm of the template looks.
pub const NAMESPACE: &str = "Hangar";
pub const SWEEP_FAILURES: &str = "SweepFailures";

/// `SweepFailures` of `stack` for one sweep.
pub fn sweep_failures(stack: &str, report: &SweepReport, now_ms: u64) -> Value {
    json!({
        "_aws": {
            "Timestamp": now_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Stack"]],
                "Metrics": [{"Name": SWEEP_FAILURES, "Unit": "Count"}],
            }],
        },
        "Stack": stack,
        SWEEP_FAILURES: report.failures.len(),
    })
}

/// What the invocation returns: how much of each kind the sweep repaired.
pub fn sweep_summary(report: &SweepReport) -> Value {
    json!({
        "failedTasks": report.failed_tasks.len(),
        "destroyedNodes": report.destroyed_nodes.len(),
        "releasedNodes": report.released_nodes.len(),
        "retiredNodes": report.retired_nodes.len(),
        "destroyedWorkspaces": report.destroyed_workspaces.len(),
        "deletedSchedules": report.deleted_schedules.len(),
        "resentCommands": report.resent_commands.len(),
        "terminatedOrphans": report.terminated_orphans.len(),
        "lostNodes": report.lost_nodes.len(),
        "failures": report.failures.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::sweep::SweepFailure;

    #[test]
    fn the_failures_line_is_an_embedded_metric_of_the_stack() {
        let report = SweepReport {
            failures: vec![
                SweepFailure {
                    item: "node a".into(),
                    error: "throttled".into(),
                };
                2
            ],
            ..SweepReport::default()
        };
        let line = sweep_failures("prod", &report, 1_700_000_000_000);
        assert_eq!(line["SweepFailures"], 2);
        assert_eq!(line["Stack"], "prod");
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "Hangar");
        assert_eq!(directive["Dimensions"][0][0], "Stack");
        assert_eq!(directive["Metrics"][0]["Name"], "SweepFailures");
        assert_eq!(line["_aws"]["Timestamp"], 1_700_000_000_000u64);
    }
}
