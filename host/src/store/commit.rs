//! Group commit: many concurrent writers wait for one fsync. Each ingest
//! queues a waiter; a dedicated thread flushes the database once for every
//! waiter queued so far, so the cost of durability is shared under load.

use std::sync::mpsc;

use tokio::sync::oneshot;

use super::StoreError;

type Waiter = oneshot::Sender<Result<(), String>>;

pub struct Committer {
    queue: Option<mpsc::Sender<Waiter>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Committer {
    pub fn start(db: sled::Db) -> std::io::Result<Committer> {
        let (queue, waiting) = mpsc::channel::<Waiter>();
        let thread = std::thread::Builder::new()
            .name("hookwasm-commit".into())
            .spawn(move || {
                while let Ok(first) = waiting.recv() {
                    let mut batch = vec![first];
                    batch.extend(waiting.try_iter());
                    let result = db.flush().map(|_| ()).map_err(|e| e.to_string());
                    for waiter in batch {
                        let _ = waiter.send(result.clone());
                    }
                }
            })?;
        Ok(Committer {
            queue: Some(queue),
            thread: Some(thread),
        })
    }

    /// Resolves once everything written before the call is on disk.
    pub async fn commit(&self) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        self.queue
            .as_ref()
            .ok_or_else(|| StoreError::Storage("the store is closed".into()))?
            .send(tx)
            .map_err(|_| StoreError::Storage("the commit thread has stopped".into()))?;
        match rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(StoreError::Storage(format!("flush failed: {e}"))),
            Err(_) => Err(StoreError::Storage("the commit thread has stopped".into())),
        }
    }
}

impl Drop for Committer {
    /// Stops the thread and waits for it, so the database (and its lock)
    /// is released when the store is dropped.
    fn drop(&mut self) {
        self.queue.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
