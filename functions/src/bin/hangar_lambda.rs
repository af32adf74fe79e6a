//! The bootstrap of every Hangar Lambda: `HANGAR_LAMBDA` names which one this function is.

fn main() -> Result<(), lambda_http::Error> {
    // SAFETY: no other thread exists yet; the runtime starts below.
    unsafe { hangar_functions::lambda::certificates::read_one_bundle() };
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(hangar_functions::lambda::run())
}
