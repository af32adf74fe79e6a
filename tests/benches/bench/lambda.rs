//! The shipped bootstrap (`hangar-lambda`, this profile's build, or `HANGAR_BENCH_LAMBDA`)
//! as Lambda runs it, through the loopback Runtime API: its size (and its zip's), its init
//! (process start to the first poll of `/runtime/invocation/next`), and `GET /api/projects`
//! of a member of 35 projects, first (cold) and then warm.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use hangar_tests::TestStack;
use hangar_tests::agent::workspace_binary;
use hangar_tests::fixtures::user;
use hangar_tests::runtime_api::{Answer, RuntimeApi, function_env, http_event};
use serde_json::json;

use crate::table::{Row, Table};

const COLD_STARTS: usize = 20;
const WARM_CALLS: usize = 50;
const LIMIT: Duration = Duration::from_secs(30);

fn binary() -> PathBuf {
    std::env::var_os("HANGAR_BENCH_LAMBDA")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_binary("hangar-lambda"))
}

/// The binary's size and its zip's (as `sam build` packs it, `bootstrap` alone), in MB.
fn sizes(binary: &PathBuf) -> (f64, f64) {
    let megabytes = |bytes: u64| bytes as f64 / 1_048_576.0;
    let size = std::fs::metadata(binary).expect("binary").len();
    let dir = tempfile::tempdir().expect("dir");
    std::fs::copy(binary, dir.path().join("bootstrap")).expect("copy");
    let zipped = std::process::Command::new("zip")
        .current_dir(dir.path())
        .args(["-q", "-9", "bootstrap.zip", "bootstrap"])
        .status()
        .expect("zip");
    assert!(zipped.success());
    let zip = std::fs::metadata(dir.path().join("bootstrap.zip"))
        .expect("zip")
        .len();
    (megabytes(size), megabytes(zip))
}

fn ms(duration: Duration) -> u64 {
    duration.as_millis() as u64
}

pub async fn run(table: &mut Table) {
    let binary = binary();
    let (size, zip) = sizes(&binary);
    let stack = TestStack::start().await;
    let owner = user();
    for n in 0..35 {
        stack
            .create_project(
                &owner,
                json!({"name": format!("Project {n}"), "repo": "https://github.com/acme/shop.git"}),
            )
            .await;
    }
    let token = stack.user_token(&owner);
    let list = || http_event("GET", "/api/projects", &token, None);
    let env = function_env(&stack, "list-projects");

    let (mut inits, mut firsts, mut warm) = (Vec::new(), Vec::new(), Vec::new());
    for start in 0..COLD_STARTS {
        let runtime = RuntimeApi::start().await;
        let spawned = Instant::now();
        let mut function = runtime.spawn(&binary, "list-projects", &env);
        let polled = runtime.initialized(&mut function, LIMIT).await;
        inits.push(ms(polled - spawned));
        let calls = if start == 0 { WARM_CALLS + 1 } else { 1 };
        for call in 0..calls {
            let asked = Instant::now();
            let Answer::Response(answer) = runtime.invoke(list(), LIMIT).await else {
                panic!("list-projects failed");
            };
            let took = ms(asked.elapsed());
            assert_eq!(answer["statusCode"], 200, "{answer}");
            if call == 0 {
                firsts.push(took);
            } else {
                warm.push(took);
            }
        }
        let _ = function.kill().await;
    }
    let built = format!("{size:.1} MB binary, {zip:.1} MB zip");
    table.add(Row {
        measure: "Lambda init: process start -> first poll".into(),
        unit: "ms",
        samples: inits,
        note: format!("{built}; goal < 25 ms"),
        seed: "12 ms; 38 MB binary (21.7 stripped), 8.0 MB zip",
    });
    table.add(Row {
        measure: "Lambda first request: GET /api/projects, 35 projects".into(),
        unit: "ms",
        samples: firsts,
        note: "the call after init: clients connect, keys fetched".into(),
        seed: "",
    });
    table.add(Row {
        measure: "Lambda warm request: GET /api/projects, 35 projects".into(),
        unit: "ms",
        samples: warm,
        note: "one query and one BatchGetItem".into(),
        seed: "177 ms (one GetItem per project)",
    });
}
