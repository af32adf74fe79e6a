//! The live socket: one WebSocket to the project's live endpoint, reopened with backoff
//! whenever it closes. Every (re)open is reported, so the page can page over HTTP whatever
//! it missed while the socket was down.

use std::cell::Cell;
use std::rc::Rc;

use hangar_protocol::live::LiveEvent;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{CloseEvent, MessageEvent, WebSocket};

/// First and longest wait before reopening a closed socket.
const RECONNECT_FIRST_MS: u32 = 250;
const RECONNECT_MAX_MS: u32 = 5_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    Connecting,
    Live,
    /// Closed; a reopen is scheduled.
    Reconnecting,
}

/// What the socket tells the page.
pub trait LiveSink: 'static {
    fn state(&self, state: LinkState);
    /// The socket (re)opened: frames from here on arrive; anything before may be missed.
    fn opened(&self);
    fn event(&self, event: LiveEvent);
}

/// The address to open, made anew at every (re)open.
pub type SocketUrl = Rc<dyn Fn() -> String>;

/// Opens the socket and keeps it open for the life of the page.
pub fn keep_open(url: SocketUrl, sink: Rc<dyn LiveSink>) {
    let delay = Rc::new(Cell::new(RECONNECT_FIRST_MS));
    open(url, sink, delay);
}

fn open(url: SocketUrl, sink: Rc<dyn LiveSink>, delay: Rc<Cell<u32>>) {
    sink.state(LinkState::Connecting);
    let socket = match WebSocket::new(&url()) {
        Ok(socket) => socket,
        Err(_) => {
            schedule_reopen(url, sink, delay);
            return;
        }
    };

    let on_open = {
        let sink = Rc::clone(&sink);
        let delay = Rc::clone(&delay);
        Closure::<dyn FnMut()>::new(move || {
            delay.set(RECONNECT_FIRST_MS);
            sink.state(LinkState::Live);
            sink.opened();
        })
    };
    let on_message = {
        let sink = Rc::clone(&sink);
        Closure::<dyn FnMut(MessageEvent)>::new(move |message: MessageEvent| {
            let Some(text) = message.data().as_string() else {
                return;
            };
            match serde_json::from_str::<LiveEvent>(&text) {
                Ok(event) => sink.event(event),
                // A frame of a newer server: ignore it rather than break the page.
                Err(err) => web_sys::console::warn_1(&format!("unknown live frame: {err}").into()),
            }
        })
    };
    let on_close = {
        let url = Rc::clone(&url);
        let sink = Rc::clone(&sink);
        let delay = Rc::clone(&delay);
        let socket = socket.clone();
        Closure::<dyn FnMut(CloseEvent)>::new(move |_: CloseEvent| {
            // Drop the handlers with the socket: nothing fires after close.
            socket.set_onopen(None);
            socket.set_onmessage(None);
            socket.set_onclose(None);
            schedule_reopen(Rc::clone(&url), Rc::clone(&sink), Rc::clone(&delay));
        })
    };
    socket.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    // The socket owns its handlers for as long as it lives; they are few per page life.
    on_open.forget();
    on_message.forget();
    on_close.forget();
}

fn schedule_reopen(url: SocketUrl, sink: Rc<dyn LiveSink>, delay: Rc<Cell<u32>>) {
    sink.state(LinkState::Reconnecting);
    let wait = delay.get();
    delay.set((wait * 2).min(RECONNECT_MAX_MS));
    gloo_timers::callback::Timeout::new(wait, move || open(url, sink, delay)).forget();
}
