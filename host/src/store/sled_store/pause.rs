//! A point where a test can hold a store thread, to run something else in
//! between two of its steps (tests only).

use std::sync::Mutex;
use std::sync::mpsc::{Receiver, Sender, channel};

#[derive(Default)]
pub(super) struct Pause(Mutex<Option<Box<dyn FnOnce() + Send>>>);

impl Pause {
    /// Makes the next thread to reach this point stop there: it says so on
    /// the first channel, and goes on once the second is sent to (or
    /// dropped).
    pub fn arm(&self) -> (Receiver<()>, Sender<()>) {
        let (paused, is_paused) = channel();
        let (release, released) = channel::<()>();
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(Box::new(move || {
            let _ = paused.send(());
            let _ = released.recv();
        }));
        (is_paused, release)
    }

    /// The point itself: holds the thread if armed (once).
    pub fn here(&self) {
        let hook = self.0.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(hook) = hook {
            hook();
        }
    }
}
