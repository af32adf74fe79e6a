//! The warm pool's races, on the real store: concurrent claims, and a warm timeout racing a
//! claim.

use hangar_functions::domain::pool::WarmTimeoutOutcome;
use hangar_functions::domain::ports::Saved;
use hangar_functions::domain::records::Task;
use hangar_protocol::NodeId;
use hangar_protocol::tasks::{NodeStatus, VmSize, WarmTimeoutEvent};
use hangar_tests::TestStack;
use hangar_tests::fixtures::{fake_project, fake_task, warm_node};

#[tokio::test]
async fn concurrent_claims_on_warm_nodes_have_exactly_as_many_winners_as_nodes() {
    let stack = TestStack::start().await;
    let store = &stack.stack.state.store;
    let pool = &stack.stack.state.tasks.pool;
    for (claimers, nodes) in [(8usize, 3usize), (3, 5), (6, 6)] {
        let size = VmSize::Large; // a size no other round leaves nodes of
        for node in store.warm_nodes(&fake_project(), size).await.expect("pool") {
            let mut gone = node.clone();
            gone.status = NodeStatus::Destroyed;
            gone.revision += 1;
            store.save_node(&gone, Some(&node)).await.expect("clear");
        }
        for _ in 0..nodes {
            assert_eq!(
                store
                    .save_node(&warm_node(size, 1), None)
                    .await
                    .expect("seed"),
                Saved::Yes
            );
        }
        let tasks: Vec<Task> = (0..claimers).map(|_| fake_task(size)).collect();
        let claims =
            futures::future::join_all(tasks.iter().map(|task| pool.claim_node(task))).await;
        let mut winners: Vec<NodeId> = claims
            .into_iter()
            .filter_map(|claim| claim.expect("claim").map(|node| node.id))
            .collect();
        assert_eq!(
            winners.len(),
            claimers.min(nodes),
            "{claimers} claims on {nodes} nodes"
        );
        winners.sort();
        winners.dedup();
        assert_eq!(winners.len(), claimers.min(nodes), "no node claimed twice");
        for id in &winners {
            let claimed = stack.node(id).await;
            assert_eq!(
                (claimed.status, claimed.generation),
                (NodeStatus::Claimed, 2)
            );
        }
    }
}

#[tokio::test]
async fn a_warm_timeout_racing_a_claim_never_destroys_a_claimed_node() {
    let stack = TestStack::start().await;
    let store = &stack.stack.state.store;
    let pool = &stack.stack.state.tasks.pool;
    let (mut claimed_nodes, mut destroyed_nodes) = (Vec::new(), Vec::new());
    for _ in 0..20 {
        let seeded = warm_node(VmSize::Medium, 4);
        store.save_node(&seeded, None).await.expect("seed");
        let task = fake_task(VmSize::Medium);
        let event = WarmTimeoutEvent {
            node_id: seeded.id.clone(),
            generation: 4,
        };
        let (claim, timeout) = tokio::join!(pool.claim_node(&task), pool.warm_timeout(&event));
        let claimed = claim
            .expect("claim")
            .is_some_and(|node| node.id == seeded.id);
        let destroyed = timeout.expect("timeout") == WarmTimeoutOutcome::Destroyed;
        let after = stack.node(&seeded.id).await;
        assert!(
            !(claimed && destroyed),
            "both won the race for {}",
            seeded.id
        );
        if claimed {
            claimed_nodes.push(seeded.id.clone());
            assert_eq!(
                after.status,
                NodeStatus::Claimed,
                "a claimed node stays alive"
            );
        } else {
            destroyed_nodes.push(seeded.id.clone());
            assert!(destroyed, "one of the two always wins");
            assert_eq!(after.status, NodeStatus::Destroyed);
        }
        // Whoever won, the node left the pool.
        assert!(
            store
                .warm_nodes(&fake_project(), VmSize::Medium)
                .await
                .expect("pool")
                .iter()
                .all(|n| n.id != seeded.id)
        );
    }
    // Settled, every race still stands as it ended: no timeout came back later for a node a
    // claim won, and no destroyed node came back.
    for id in &claimed_nodes {
        assert_eq!(stack.node(id).await.status, NodeStatus::Claimed, "{id}");
    }
    for id in &destroyed_nodes {
        assert_eq!(stack.node(id).await.status, NodeStatus::Destroyed, "{id}");
    }

    // A timeout for an older generation never touches a node warm again in a newer one.
    let rewarmed = warm_node(VmSize::Medium, 9);
    store.save_node(&rewarmed, None).await.expect("seed");
    let stale = WarmTimeoutEvent {
        node_id: rewarmed.id.clone(),
        generation: 7,
    };
    assert!(matches!(
        pool.warm_timeout(&stale).await.expect("timeout"),
        WarmTimeoutOutcome::Skipped(_)
    ));
    assert_eq!(stack.node(&rewarmed.id).await.status, NodeStatus::Warm);
}
