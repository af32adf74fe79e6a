//! Times as the page shows them: relative ("3 min ago"), exact on hover (the browser's
//! locale), and durations ("4 min 12 s"). `now` ticks, so relative times stay true.

use sycamore::prelude::*;

/// The browser's clock in Unix epoch milliseconds.
pub fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

/// A signal holding the time, moved on every 15 s (every second is not needed by any
/// figure the page shows but "elapsed" of a running task, which asks for its own tick).
pub fn ticking(every_ms: u32) -> Signal<u64> {
    let now = create_signal(now_ms());
    gloo_timers::callback::Interval::new(every_ms, move || now.set(now_ms())).forget();
    now
}

/// "just now", "5 min ago", "3 h ago", "2 d ago".
pub fn relative(at_ms: u64, now_ms: u64) -> String {
    let secs = now_ms.saturating_sub(at_ms) / 1000;
    match secs {
        0..=44 => "just now".into(),
        45..=3_599 => format!("{} min ago", (secs + 30) / 60),
        3_600..=86_399 => format!("{} h ago", secs / 3_600),
        _ => format!("{} d ago", secs / 86_400),
    }
}

/// The exact time in the browser's locale.
pub fn exact(at_ms: u64) -> String {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(at_ms as f64));
    String::from(date.to_locale_string("default", &wasm_bindgen::JsValue::UNDEFINED))
}

/// ISO 8601, for `<time datetime>`.
pub fn iso(at_ms: u64) -> String {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(at_ms as f64));
    String::from(date.to_iso_string())
}

/// "42 s", "4 min 12 s", "1 h 3 min".
pub fn duration(ms: u64) -> String {
    let secs = ms / 1000;
    match secs {
        0..=59 => format!("{secs} s"),
        60..=3_599 => format!("{} min {} s", secs / 60, secs % 60),
        _ => format!("{} h {} min", secs / 3_600, (secs % 3_600) / 60),
    }
}
