//! Benchmarks (not tests), printed as one table: run with `scripts/bench`. Everything runs
//! on loopback: the local stack, moto_server, real node and agent processes.

mod delivery;
mod start;
mod streaming;
mod table;

use table::Table;

#[tokio::main]
async fn main() {
    let mut table = Table::default();
    start::run(&mut table, 50).await;
    delivery::run(&mut table).await;
    streaming::run(&mut table).await;
    table.print();
}
