//! Every Lambda of the stack, with what triggers it and what it needs. One bootstrap serves
//! them all (`HANGAR_LAMBDA` names which one a function is); each is still its own function
//! with its own role. A need is one grant and one set of variables in the template
//! (`infra/src/template`), and one port wired at cold start: a function wires nothing it
//! does not need, so a route that only reads never builds an EC2 client and never holds the
//! signing key.

use crate::http::routes::ROUTES;

/// What a Lambda needs beyond reading the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Need {
    /// Writes items (puts, updates, deletes, transactions).
    WriteStore,
    /// Posts frames to WebSocket connections (viewers' and nodes').
    Push,
    /// Signs workspace and node tokens: the only functions that read the signing key.
    Sign,
    /// Creates and deletes warm-timeout schedules.
    Schedule,
    /// Launches node instances.
    Provision,
    /// Terminates this stack's node instances.
    Terminate,
    /// Keeps and reads projects' secrets, the forge credential and the agent's variables
    /// (Secrets Manager, this stack's prefix only), and opens pull requests.
    Forge,
}

/// Needs of a function that moves tasks and nodes along: it may start queued tasks (on a
/// warm node or a new one), hand nodes back to the pool, or destroy them.
pub const TASK_STEPS: &[Need] = &[
    Need::WriteStore,
    Need::Push,
    Need::Sign,
    Need::Schedule,
    Need::Provision,
    Need::Terminate,
];
/// Needs of the workspace's report: it moves the task on and opens its pull request.
pub const FINISH: &[Need] = &[
    Need::WriteStore,
    Need::Push,
    Need::Sign,
    Need::Schedule,
    Need::Provision,
    Need::Terminate,
    Need::Forge,
];
/// Needs of a function that records a project's settings, its forge credential among them.
pub const RECORD_SETTINGS: &[Need] = &[Need::WriteStore, Need::Forge];
/// Needs of a function that hands a workspace its secrets (git credential, agent variables).
pub const CREDENTIALS: &[Need] = &[Need::Forge];
/// Needs of a function that records what a caller sent and tells the viewers.
pub const RECORD_AND_PUSH: &[Need] = &[Need::WriteStore, Need::Push];
/// Needs of a function that only records.
pub const RECORD: &[Need] = &[Need::WriteStore];
/// Needs of a function that only reads.
pub const READ: &[Need] = &[];
/// Needs of the node's assignments: reads, and mints the workspaces' callback tokens.
pub const NODE_READS: &[Need] = &[Need::Sign];

/// What invokes a Lambda.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// A route of the HTTP API.
    Http {
        method: &'static str,
        path: &'static str,
    },
    /// A route of the WebSocket API (`$connect`, `$disconnect`, or a message's `action`).
    WebSocket { route_key: &'static str },
    /// A one-time EventBridge Scheduler schedule (the warm timeouts).
    Schedule,
    /// An EventBridge Scheduler rate.
    Rate { expression: &'static str },
    /// CloudFormation, for the stack's own custom resources (the signing key, the nodes'
    /// cleanup at deletion); it needs no table and no token checks.
    CustomResource,
}

/// One Lambda of the stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lambda {
    pub name: &'static str,
    pub trigger: Trigger,
    pub needs: &'static [Need],
    /// Seconds it may run (API Gateway gives HTTP routes 29 s at most).
    pub timeout_secs: u32,
}

impl Lambda {
    pub fn needs(&self, need: Need) -> bool {
        self.needs.contains(&need)
    }
}

/// The WebSocket routes: the same `$connect` takes viewers and nodes.
pub const WS_CONNECT: &str = "ws-connect";
pub const WS_DISCONNECT: &str = "ws-disconnect";
pub const WS_HEARTBEAT: &str = "ws-heartbeat";
pub const WARM_TIMEOUT: &str = "warm-timeout";
pub const RECONCILE: &str = "reconcile";
pub const STACK_RESOURCES: &str = "stack-resources";

/// The Lambdas that are not HTTP routes.
const OTHERS: &[Lambda] = &[
    Lambda {
        name: WS_CONNECT,
        trigger: Trigger::WebSocket {
            route_key: "$connect",
        },
        needs: RECORD,
        timeout_secs: 29,
    },
    Lambda {
        name: WS_DISCONNECT,
        trigger: Trigger::WebSocket {
            route_key: "$disconnect",
        },
        needs: RECORD,
        timeout_secs: 29,
    },
    Lambda {
        name: WS_HEARTBEAT,
        trigger: Trigger::WebSocket {
            route_key: hangar_protocol::node::HEARTBEAT_ROUTE,
        },
        needs: RECORD,
        timeout_secs: 29,
    },
    Lambda {
        name: WARM_TIMEOUT,
        trigger: Trigger::Schedule,
        // A destroyed node leaves room for a queued task, which this then starts.
        needs: TASK_STEPS,
        timeout_secs: 60,
    },
    Lambda {
        name: RECONCILE,
        trigger: Trigger::Rate {
            expression: "rate(5 minutes)",
        },
        needs: TASK_STEPS,
        timeout_secs: 300,
    },
    Lambda {
        name: STACK_RESOURCES,
        trigger: Trigger::CustomResource,
        // Its grants are its own (the signing key's secret, terminating the stack's nodes):
        // see the template.
        needs: READ,
        // A stack's deletion waits for its nodes to be terminated.
        timeout_secs: 900,
    },
];

/// Every Lambda: the HTTP routes, then the others.
pub fn lambdas() -> Vec<Lambda> {
    ROUTES
        .iter()
        .map(|route| Lambda {
            name: route.lambda,
            trigger: Trigger::Http {
                method: route.method,
                path: route.path,
            },
            needs: route.needs,
            timeout_secs: 29,
        })
        .chain(OTHERS.iter().copied())
        .collect()
}

/// The Lambda named `name`.
pub fn lambda(name: &str) -> Option<Lambda> {
    lambdas().into_iter().find(|lambda| lambda.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_only_task_movers_sign_or_provision() {
        let all = lambdas();
        let mut names: Vec<&str> = all.iter().map(|l| l.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all.len(), "a name twice");
        for lambda in &all {
            if lambda.needs(Need::Provision) {
                assert!(
                    lambda.needs(Need::Sign),
                    "{}: a new node gets a token",
                    lambda.name
                );
            }
        }
        let readers = ["list-projects", "get-task", "list-messages"];
        for name in readers {
            assert_eq!(lambda(name).map(|l| l.needs), Some(READ), "{name}");
        }
    }
}
