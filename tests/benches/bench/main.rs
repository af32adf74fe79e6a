//! Benchmarks (not tests), printed as one table: run with `scripts/bench`, or
//! `scripts/bench outbox delivery` for some sections only. Everything runs on loopback: the
//! local stack, moto_server, real node and agent processes.

mod cost;
mod delivery;
mod fanout;
mod lambda;
mod start;
mod streaming;
mod table;

use table::Table;

/// Every section, in the order the table shows them.
const SECTIONS: &[&str] = &[
    "start",
    "outbox",
    "delivery",
    "fanout",
    "streaming",
    "lambda",
    "cost",
];

#[tokio::main]
async fn main() {
    // `cargo bench` adds `--bench`; every other argument names a section.
    let asked: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with("--"))
        .collect();
    if let Some(unknown) = asked.iter().find(|a| !SECTIONS.contains(&a.as_str())) {
        eprintln!("unknown section {unknown}; the sections are {SECTIONS:?}");
        std::process::exit(2);
    }
    let wanted = |section: &str| asked.is_empty() || asked.iter().any(|a| a == section);
    let mut table = Table::default();
    if wanted("start") {
        start::run(&mut table, 50).await;
    }
    if wanted("outbox") {
        delivery::outbox(&mut table).await;
    }
    if wanted("delivery") {
        delivery::run(&mut table).await;
    }
    if wanted("fanout") {
        fanout::run(&mut table).await;
    }
    if wanted("streaming") {
        streaming::run(&mut table).await;
    }
    if wanted("lambda") {
        lambda::run(&mut table).await;
    }
    if wanted("cost") {
        cost::run(&mut table).await;
    }
    table.print();
}
